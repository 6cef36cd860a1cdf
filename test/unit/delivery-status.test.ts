import { describe, it } from "node:test";
import assert from "node:assert/strict";
import xml from "@xmpp/xml";
import type { XmppInboundMessage } from "../../src/core/model.js";
import { DeliveryStatus } from "../../src/pipeline/capabilities/delivery-status.js";
import { parseDirectMessage } from "../../src/xmpp/stanzas.js";
import { alice, bob, bobsGhost, capabilityDeps, dm, dmRoom, muc, portalRoom } from "../fakes/capability-deps.js";

const RECEIPTS = "urn:xmpp:receipts";
const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
const toDm = { link: { kind: "dm" as const, roomId: dmRoom, matrixUser: alice, xmppUser: bob }, roomId: dmRoom, conversation: dm, ghost: bobsGhost };
const fromBob = (extra: Partial<XmppInboundMessage> = {}): XmppInboundMessage => ({
  body: "hi",
  receiptRequested: true,
  conversation: { kind: "dm", xmppUser: bob, matrixUser: alice, from: `${bob}/phone` },
  ids: { id: "m1" },
  ...extra,
});
const matrixError = (errcode: string, statusCode: number) => Object.assign(new Error(errcode), { statusCode, body: { errcode } });

async function scene() {
  const parts = await capabilityDeps();
  const counted: string[] = [];
  const status = new DeliveryStatus({ ...parts.deps, undeliverable: (direction, reason) => void counted.push(`${direction} ${reason}`) });
  return { ...parts, status, counted };
}

describe("delivery status, XMPP senders", () => {
  it("reads the receipt request (XEP-0184) and the sender's resource from a chat message", () => {
    const stanza = xml("message", { from: `${bob}/phone`, to: "alice%matrix.test@matrix.xmpp.test", id: "m1", type: "chat" }, xml("body", {}, "hi"), xml("request", { xmlns: RECEIPTS }));
    const message = parseDirectMessage(stanza, alice);
    assert.equal(message?.receiptRequested, true);
    assert.deepEqual(message?.conversation, { kind: "dm", xmppUser: bob, matrixUser: alice, from: `${bob}/phone` });
    const withoutId = xml("message", { from: `${bob}/phone`, type: "chat" }, xml("body", {}, "hi"), xml("request", { xmlns: RECEIPTS }));
    assert.equal(parseDirectMessage(withoutId, alice)?.receiptRequested, undefined);
  });

  it("confirms a message to the resource that sent it once it is on Matrix, never before", async () => {
    const { status, stanzas, store } = await scene();
    await status.fromXmpp({ kind: "message", message: fromBob() }, toDm);
    assert.equal(stanzas.length, 0, "not in the message map: no Matrix event yet");
    await store.recordMessage({ roomId: dmRoom, eventId: "$e1", conversation: dm, ids: { id: "m1" } });
    await status.fromXmpp({ kind: "message", message: fromBob() }, toDm);
    assert.equal(stanzas[0]?.attrs.to, `${bob}/phone`);
    assert.equal(stanzas[0]?.attrs.from, "alice%matrix.test@matrix.xmpp.test/matrix");
    assert.equal(stanzas[0]?.getChild("received", RECEIPTS)?.attrs.id, "m1");
  });

  it("sends no receipt nobody asked for", async () => {
    const { status, stanzas, store } = await scene();
    await store.recordMessage({ roomId: dmRoom, eventId: "$e1", conversation: dm, ids: { id: "m1" } });
    await status.fromXmpp({ kind: "message", message: fromBob({ receiptRequested: false }) }, toDm);
    assert.equal(stanzas.length, 0);
  });

  it("answers a message the homeserver refuses for good with an error carrying its id and why", async () => {
    const { status, stanzas, counted } = await scene();
    await status.undeliverableFromXmpp({ kind: "message", message: fromBob() }, matrixError("M_TOO_LARGE", 413));
    const error = stanzas[0]?.getChild("error");
    assert.equal(stanzas[0]?.attrs.type, "error");
    assert.equal(stanzas[0]?.attrs.id, "m1");
    assert.equal(stanzas[0]?.attrs.to, `${bob}/phone`);
    assert.equal(error?.attrs.type, "modify");
    assert.ok(error?.getChild("not-acceptable", STANZAS));
    assert.match(error?.getChildText("text", STANZAS) ?? "", /too large for Matrix/);
    await status.undeliverableFromXmpp({ kind: "message", message: fromBob({ ids: { id: "m2" } }) }, matrixError("M_FORBIDDEN", 403));
    assert.ok(stanzas[1]?.getChild("error")?.getChild("forbidden", STANZAS));
    assert.deepEqual(counted, ["xmpp_to_matrix M_TOO_LARGE", "xmpp_to_matrix M_FORBIDDEN"]);
  });

  it("answers no MUC occupant: the room would take an error from the puppet as its leaving", async () => {
    const { status, stanzas, counted } = await scene();
    const inMuc = fromBob({ conversation: { kind: "muc", muc, nick: "bob", occupantKey: "bob" } });
    await status.undeliverableFromXmpp({ kind: "message", message: inMuc }, matrixError("M_FORBIDDEN", 403));
    assert.equal(stanzas.length, 0);
    assert.deepEqual(counted, ["xmpp_to_matrix M_FORBIDDEN"]);
  });
});

describe("delivery status, Matrix senders", () => {
  it("replies to a message that will never reach XMPP with a notice saying why", async () => {
    const { status, matrix, counted } = await scene();
    await status.undeliverableFromMatrix({ kind: "message", roomId: portalRoom, sender: alice, eventId: "$lost", message: { msgtype: "m.text", body: "x", mentions: [] } }, new Error("no such thing"));
    assert.match(matrix.notices[0] ?? "", /not delivered to XMPP.*no such thing/);
    assert.deepEqual(matrix.noticeReplies, ["$lost"]);
    assert.deepEqual(counted, ["matrix_to_xmpp Error"]);
  });

  it("replies to a DM message the XMPP user's server sent back", async () => {
    const { status, matrix, store } = await scene();
    await store.recordMessage({ roomId: dmRoom, eventId: "$hello", conversation: dm, ids: { id: "hello", originId: "hello" } });
    await status.bounced({ kind: "bounced", xmppUser: bob, matrixUser: alice, id: "hello", condition: "service-unavailable" }, toDm);
    // The bot is not in a DM: the ghost says it.
    assert.equal(matrix.sent[0]?.sender, bobsGhost);
    assert.equal(matrix.sent[0]?.content.msgtype, "m.notice");
    assert.match(String(matrix.sent[0]?.content.body), /not delivered to XMPP: bob@xmpp\.test cannot be reached \(service-unavailable\)/);
    assert.deepEqual(matrix.sent[0]?.content["m.relates_to"], { "m.in_reply_to": { event_id: "$hello" } });
  });
});

describe("delivery status, senders held by the rate limit", () => {
  const limit = { messagesPerMinute: 60, burst: 30 };
  const held = async () => {
    const parts = await capabilityDeps();
    return { ...parts, status: new DeliveryStatus({ ...parts.deps, limit }) };
  };

  it("tells an XMPP user, from the bridge, at the address they wrote from; in a MUC only where their JID is known", async () => {
    const { status, stanzas } = await held();
    await status.heldFromXmpp({ kind: "message", message: fromBob() });
    assert.equal(stanzas[0]?.attrs.from, "matrix.xmpp.test");
    assert.equal(stanzas[0]?.attrs.to, `${bob}/phone`);
    assert.equal(stanzas[0]?.attrs.type, "chat");
    assert.match(stanzas[0]?.getChildText("body") ?? "", /faster than the bridge passes messages on to Matrix \(30 at once, then 60 a minute\).*none is lost/);
    const occupant = { kind: "muc" as const, muc, nick: "bob", occupantKey: "bob-id" };
    await status.heldFromXmpp({ kind: "message", message: fromBob({ conversation: occupant }) });
    assert.equal(stanzas.length, 1, "a MUC that hides real JIDs: nobody to tell");
    await status.heldFromXmpp({ kind: "message", message: fromBob({ conversation: { ...occupant, realJid: `${bob}/laptop` } }) });
    assert.equal(stanzas[1]?.attrs.to, `${bob}/laptop`);
  });

  it("tells a Matrix user with a notice naming them, replying to their first held message", async () => {
    const { status, matrix } = await held();
    await status.heldFromMatrix({ kind: "message", roomId: portalRoom, sender: alice, eventId: "$fast", message: { msgtype: "m.text", body: "x", mentions: [] } });
    assert.match(matrix.notices[0] ?? "", new RegExp(`^${alice}: You are sending faster than the bridge passes messages on to XMPP`));
    assert.deepEqual(matrix.noticeReplies, ["$fast"]);
  });
});
