/**
 * A MUC destroyed by its owner (XEP-0045 §10.9): its portal is unlinked, and the room is told why and
 * where the conversation moved, if the owner named another room.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { xml } from "@xmpp/client";
import { bodyOf, portalScene } from "./scenes.js";
import { bridgeSuite, portalAliasOf, stack, uniqueName } from "./harness.js";

const suite = bridgeSuite();
const OWNER = "http://jabber.org/protocol/muc#owner";

test("an owner destroys the MUC, naming another room: the portal is unlinked with a notice that names it", async () => {
  const p = await portalScene(suite, "doomed");
  const alternate = `${uniqueName("newhome")}@${stack.mucDomain}`;
  await p.xmppUser.iq(xml("iq", { type: "set", to: p.room }, xml("query", { xmlns: OWNER }, xml("destroy", { jid: alternate }, xml("reason", {}, "Moving house")))));
  const notice = await p.fromXmpp((e) => e.content.msgtype === "m.notice" && /was destroyed on XMPP/.test(e.content.body as string), "the notice");
  assert.equal(notice.content.body, `${p.room} was destroyed on XMPP (Moving house): this room is no longer bridged. The conversation moved to ${alternate}: join ${portalAliasOf(alternate)} to follow it.`);
  await suite.bridge.waitForLog((r) => r.msg === "unlinked a room whose MUC was destroyed" && r.muc === p.room);
  const links = suite.bridge.records.filter((r) => r.msg === "unlinked a room whose MUC was destroyed" && r.muc === p.room);
  assert.equal(links.length, 1, "unlinked once, though every puppet heard it");

  // The room is no longer bridged: with the MUC made again, nothing said in the room reaches it.
  await p.xmppUser.send(xml("presence", { to: `${p.room}/xena` }, xml("x", { xmlns: "http://jabber.org/protocol/muc" })));
  const seen = p.xmppUser.stanzas.length;
  await p.xmppUser.waitFor((s) => p.xmppUser.stanzas.indexOf(s) >= seen && s.is("presence") && s.attrs.from === `${p.room}/xena`, "the MUC made again");
  const eventId = await p.matrixUser.sendText(p.roomId, "anyone there?");
  await suite.bridge.waitForLog((r) => r.msg === "message handled" && r.eventId === eventId);
  assert.ok(!p.xmppUser.stanzas.some((s) => s.attrs.from === `${p.room}/Max` && bodyOf(s) === "anyone there?"), "nothing from the unlinked room reaches the MUC");
});

test("an owner destroys the MUC without naming another: the notice says it is no longer bridged", async () => {
  const p = await portalScene(suite, "gone");
  await p.xmppUser.iq(xml("iq", { type: "set", to: p.room }, xml("query", { xmlns: OWNER }, xml("destroy", {}))));
  const notice = await p.fromXmpp((e) => e.content.msgtype === "m.notice" && /was destroyed on XMPP/.test(e.content.body as string), "the notice");
  assert.equal(notice.content.body, `${p.room} was destroyed on XMPP: this room is no longer bridged.`);
});
