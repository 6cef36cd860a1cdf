import { test } from "node:test";
import assert from "node:assert/strict";
import { xml } from "@xmpp/client";
import { MatrixTestClient } from "./matrix-client.js";
import { XmppTestClient } from "./xmpp-client.js";
import { bridgeSuite, stack, uniqueName } from "./harness.js";

const MUC = "http://jabber.org/protocol/muc";
type Stanza = ReturnType<typeof xml>;
const bodyOf = (s: Stanza) => s.getChildText("body");
const stanzaIdOf = (s: Stanza, by: string) => s.getChildren("stanza-id", "urn:xmpp:sid:0").find((e) => e.attrs.by === by)?.attrs.id;

const suite = bridgeSuite();

/** A MUC with an XMPP user and a Matrix user in its portal, both ready to talk. */
async function portal(name: string) {
  const room = `${uniqueName(name)}@${stack.mucDomain}`;
  const xmppUser = await XmppTestClient.login(uniqueName("x"));
  suite.xmppClients.push(xmppUser);
  await xmppUser.send(xml("presence", { to: `${room}/xena` }, xml("x", { xmlns: MUC })));
  await xmppUser.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/xena`, "self-presence");
  const matrixUser = await MatrixTestClient.register(uniqueName("m"));
  await matrixUser.request("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(matrixUser.userId)}/displayname`, { displayname: "Max" });
  const roomId = await matrixUser.join(`#_xmpp_${room.replace("@", "=40")}:${stack.matrixDomain}`);
  await xmppUser.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Max`, "the puppet in the MUC");
  const fromMatrix = (body: string) => xmppUser.waitFor((s) => s.is("message") && s.attrs.from === `${room}/Max` && bodyOf(s) === body, `"${body}" on XMPP`);
  const fromXmpp = (pred: (e: { content: Record<string, any>; type: string; redacts?: string }) => boolean, what: string) =>
    matrixUser.waitForEvent((e) => e.room_id === roomId && pred(e), what);
  /** The XMPP user's own message as the MUC reflected it, with the room's stanza-id. */
  const say = async (id: string, body: string, ...extra: Stanza[]) => {
    await xmppUser.send(xml("message", { to: room, type: "groupchat", id }, xml("body", {}, body), ...extra));
    return xmppUser.waitFor((s) => s.is("message") && s.attrs.from === `${room}/xena` && s.attrs.id === id, "the reflection");
  };
  return { room, xmppUser, matrixUser, roomId, fromMatrix, fromXmpp, say };
}

test("edits both ways in a MUC: XEP-0308 corrections and m.replace", async () => {
  const p = await portal("edits");
  const original = await p.matrixUser.sendText(p.roomId, "helo");
  const first = await p.fromMatrix("helo");
  await p.matrixUser.send(p.roomId, { msgtype: "m.text", body: "* hello", "m.new_content": { msgtype: "m.text", body: "hello" }, "m.relates_to": { rel_type: "m.replace", event_id: original } });
  const correction = await p.fromMatrix("hello");
  assert.equal(correction.getChild("replace", "urn:xmpp:message-correct:0")?.attrs.id, first.getChild("origin-id", "urn:xmpp:sid:0")?.attrs.id);

  const xmppOriginal = await p.say("e1", "teh cat");
  const seen = await p.fromXmpp((e) => e.content.body === "teh cat", "the XMPP message");
  await p.xmppUser.send(xml("message", { to: p.room, type: "groupchat", id: "e2" }, xml("body", {}, "the cat"), xml("replace", { xmlns: "urn:xmpp:message-correct:0", id: xmppOriginal.attrs.id })));
  const edit = await p.fromXmpp((e) => e.content["m.new_content"]?.body === "the cat", "the Matrix edit");
  assert.equal(edit.content["m.relates_to"].rel_type, "m.replace");
  assert.equal(edit.content["m.relates_to"].event_id, (seen as { event_id: string }).event_id);
});

test("an edit of a message that is not the sender's last carries a marked fallback", async () => {
  const p = await portal("oldedit");
  const older = await p.matrixUser.sendText(p.roomId, "first thing");
  await p.fromMatrix("first thing");
  await p.matrixUser.sendText(p.roomId, "second thing");
  await p.fromMatrix("second thing");
  await p.matrixUser.send(p.roomId, { msgtype: "m.text", body: "* first thing, fixed", "m.new_content": { msgtype: "m.text", body: "first thing, fixed" }, "m.relates_to": { rel_type: "m.replace", event_id: older } });
  const correction = await p.fromMatrix("* first thing, fixed");
  assert.ok(correction.getChild("replace", "urn:xmpp:message-correct:0"));
  const fallback = correction.getChild("fallback", "urn:xmpp:fallback:0");
  assert.equal(fallback?.attrs.for, "urn:xmpp:message-correct:0");
  assert.deepEqual(fallback?.getChild("body")?.attrs, { start: "0", end: "2" });
});

test("replies both ways in a MUC use the room's stanza-id, with a quote fallback and no Matrix IDs", async () => {
  const p = await portal("replies");
  const question = await p.matrixUser.sendText(p.roomId, "who wants tea?");
  const asked = await p.fromMatrix("who wants tea?");
  const askedId = stanzaIdOf(asked, p.room);
  assert.ok(askedId, "the MUC gave the message a stanza-id");
  await p.xmppUser.send(
    xml(
      "message",
      { to: p.room, type: "groupchat", id: "r1" },
      xml("body", {}, "> Max: who wants tea?\nme!"),
      xml("reply", { xmlns: "urn:xmpp:reply:0", id: askedId, to: `${p.room}/Max` }),
      xml("fallback", { xmlns: "urn:xmpp:fallback:0", for: "urn:xmpp:reply:0" }, xml("body", { start: "0", end: "22" })),
    ),
  );
  const reply = await p.fromXmpp((e) => e.content["m.relates_to"]?.["m.in_reply_to"] !== undefined, "the Matrix reply");
  assert.equal(reply.content["m.relates_to"]["m.in_reply_to"].event_id, question);
  assert.equal(reply.content.body, "me!");

  const said = await p.say("r2", "the kettle is on");
  const saidEvent = await p.fromXmpp((e) => e.content.body === "the kettle is on", "the XMPP message");
  await p.matrixUser.send(p.roomId, {
    msgtype: "m.text",
    body: `> <@someone:${stack.matrixDomain}> the kettle is on\n\ngreat`,
    "m.relates_to": { "m.in_reply_to": { event_id: (saidEvent as { event_id: string }).event_id } },
  });
  const answer = await p.xmppUser.waitFor((s) => s.attrs.from === `${p.room}/Max` && (bodyOf(s) ?? "").endsWith("great"), "the XMPP reply");
  assert.equal(answer.getChild("reply", "urn:xmpp:reply:0")?.attrs.id, stanzaIdOf(said, p.room));
  assert.equal(bodyOf(answer), "> the kettle is on\ngreat");
  assert.doesNotMatch(bodyOf(answer)!, /@someone|matrix\.to/);
  assert.equal(answer.getChild("fallback", "urn:xmpp:fallback:0")?.getChild("body")?.attrs.end, String([..."> the kettle is on\n"].length));
});

test("retractions both ways in a MUC: XEP-0424 and redactions", async () => {
  const p = await portal("retract");
  const mine = await p.matrixUser.sendText(p.roomId, "oops, wrong room");
  const sent = await p.fromMatrix("oops, wrong room");
  await p.matrixUser.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(p.roomId)}/redact/${encodeURIComponent(mine)}/t${Date.now()}`, {});
  const retraction = await p.xmppUser.waitFor((s) => s.attrs.from === `${p.room}/Max` && !!s.getChild("retract", "urn:xmpp:message-retract:1"), "the retraction");
  assert.equal(retraction.getChild("retract", "urn:xmpp:message-retract:1")?.attrs.id, stanzaIdOf(sent, p.room));

  const theirs = await p.say("t1", "never mind");
  const event = (await p.fromXmpp((e) => e.content.body === "never mind", "the XMPP message")) as { event_id: string };
  await p.xmppUser.send(
    xml("message", { to: p.room, type: "groupchat", id: "t2" }, xml("retract", { xmlns: "urn:xmpp:message-retract:1", id: stanzaIdOf(theirs, p.room) }), xml("body", {}, "/me retracted a message")),
  );
  await p.fromXmpp((e) => e.type === "m.room.redaction" && e.redacts === event.event_id, "the redaction");
});

test("edits in a direct chat use the message id", async () => {
  const yan = await XmppTestClient.login(uniqueName("yan"));
  suite.xmppClients.push(yan);
  const zoe = await MatrixTestClient.register(uniqueName("zoe"));
  const puppet = `${zoe.userId.slice(1).replace(":", "%")}@${stack.componentDomain}`;
  await yan.send(xml("message", { to: puppet, type: "chat", id: "d1" }, xml("body", {}, "helo zoe")));
  const roomId = await zoe.waitForInvite();
  await zoe.join(roomId);
  const original = (await zoe.waitForEvent((e) => e.content.body === "helo zoe", "the DM")) as { event_id: string };
  await yan.send(xml("message", { to: puppet, type: "chat", id: "d2" }, xml("body", {}, "hello zoe"), xml("replace", { xmlns: "urn:xmpp:message-correct:0", id: "d1" })));
  const edit = await zoe.waitForEvent((e) => e.content["m.new_content"]?.body === "hello zoe", "the edit");
  assert.equal(edit.content["m.relates_to"].event_id, original.event_id);
});
