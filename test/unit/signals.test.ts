import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Element } from "@xmpp/xml";
import { Receipts } from "../../src/pipeline/capabilities/receipts.js";
import { Typing } from "../../src/pipeline/capabilities/typing.js";
import { alice, bob, bobsGhost, capabilityDeps, dm, dmRoom, muc, portalRoom } from "../fakes/capability-deps.js";

const CHAT_STATES = "http://jabber.org/protocol/chatstates";
const MARKERS = "urn:xmpp:chat-markers:0";
const chatState = (stanza: Element | undefined): string | undefined => stanza?.getChildElements().find((el) => el.getNS() === CHAT_STATES)?.name;
const toDm = { ghost: bobsGhost, roomId: dmRoom, conversation: dm };

describe("typing, Matrix to XMPP", () => {
  it("tells who started and who stopped, and never the ghosts' own typing", async () => {
    const { deps, stanzas, at } = await capabilityDeps();
    const typing = new Typing(deps);
    await typing.fromMatrix({ kind: "typing", roomId: dmRoom, userIds: [alice, bobsGhost] }, at(dmRoom));
    await typing.fromMatrix({ kind: "typing", roomId: dmRoom, userIds: [alice] }, at(dmRoom));
    await typing.fromMatrix({ kind: "typing", roomId: dmRoom, userIds: [] }, at(dmRoom));
    assert.deepEqual(stanzas.map(chatState), ["composing", "paused"]);
    assert.equal(stanzas[0]?.attrs.to, bob);
    assert.equal(stanzas[0]?.attrs.type, "chat");
  });
  it("never makes a puppet join a MUC just to type", async () => {
    const outside = await capabilityDeps();
    await new Typing(outside.deps).fromMatrix({ kind: "typing", roomId: portalRoom, userIds: [alice] }, outside.at(portalRoom));
    assert.equal(outside.stanzas.length, 0);
    const inside = await capabilityDeps({ inMuc: [alice] });
    await new Typing(inside.deps).fromMatrix({ kind: "typing", roomId: portalRoom, userIds: [alice] }, inside.at(portalRoom));
    assert.equal(inside.stanzas[0]?.attrs.to, muc);
    assert.equal(inside.stanzas[0]?.attrs.type, "groupchat");
  });
});

describe("typing, XMPP to Matrix", () => {
  it("takes a bare chat state, or a stop, but not composing beside a body", async () => {
    const { deps, matrix } = await capabilityDeps();
    const typing = new Typing(deps);
    await typing.toMatrix(toDm, true, false);
    await typing.toMatrix(toDm, true, true);
    await typing.toMatrix(toDm, false, true);
    assert.deepEqual(matrix.typing, [
      { sender: bobsGhost, typing: true },
      { sender: bobsGhost, typing: false },
    ]);
  });
});

describe("read markers both ways", () => {
  it("sends a displayed marker for a public receipt on a message from XMPP, as the reader's puppet", async () => {
    const { deps, store, stanzas, at } = await capabilityDeps();
    await store.recordMessage({ roomId: dmRoom, eventId: "$fromBob", conversation: dm, ids: { id: "b1", originId: "b1o" }, sender: bobsGhost });
    await store.recordMessage({ roomId: dmRoom, eventId: "$fromAlice", conversation: dm, ids: { id: "a1" }, sender: alice });
    const receipts = new Receipts(deps);
    await receipts.fromMatrix({ kind: "receipt", roomId: dmRoom, reads: [{ eventId: "$fromAlice", readers: [alice] }] }, at(dmRoom));
    await receipts.fromMatrix({ kind: "receipt", roomId: dmRoom, reads: [{ eventId: "$fromBob", readers: [bobsGhost, alice] }] }, at(dmRoom));
    assert.equal(stanzas.length, 1);
    assert.equal(stanzas[0]?.getChild("displayed", MARKERS)?.attrs.id, "b1o");
    assert.match(String(stanzas[0]?.attrs.from), /^alice%matrix\.test@matrix\.xmpp\.test/);
  });
  it("turns a displayed marker into the ghost's read receipt, when the bridge knows the message", async () => {
    const { deps, store, matrix } = await capabilityDeps();
    await store.recordMessage({ roomId: dmRoom, eventId: "$fromAlice", conversation: dm, ids: { id: "a1" }, sender: alice });
    const receipts = new Receipts(deps);
    await receipts.toMatrix(toDm, "a1");
    await receipts.toMatrix(toDm, "unknown");
    assert.deepEqual(matrix.receipts, [{ sender: bobsGhost, eventId: "$fromAlice" }]);
  });
});
