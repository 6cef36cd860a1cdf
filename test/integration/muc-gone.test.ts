/**
 * A MUC gone: destroyed by its owner (XEP-0045 §10.9), its portal is unlinked, and the room is told why
 * and where the conversation moved, if the owner named another room; on a server that cannot be
 * reached, the room is told that its messages wait, they are retried for a while, then given up.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { xml } from "@xmpp/client";
import { pino } from "pino";
import { RedisStore } from "../../src/store/redis-store.js";
import { bodyOf, BOT, portalScene, roomWithBot } from "./scenes.js";
import { baseConfig, bridgeSuite, portalAliasOf, stack, uniqueName } from "./harness.js";
import { MatrixTestClient } from "./matrix-client.js";

/** How long messages for an unreachable MUC wait here: short, for the test; 300 s by default. */
const RETRY_SECONDS = 20;
const suite = bridgeSuite({ bridge: { unreachableMucRetrySeconds: RETRY_SECONDS } });
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

test("a room linked to a MUC on a server that cannot be reached: told once that messages wait, retried with growing delays, then each given up with a notice", async () => {
  const alice = await MatrixTestClient.register(uniqueName("alice"));
  const roomId = await roomWithBot(alice);
  // Linked while its server answered, say; now its domain cannot be found (.invalid never resolves, RFC 6761).
  const muc = `${uniqueName("far")}@conference.${uniqueName("gone")}.invalid`;
  const redis = baseConfig().redis as { url: string; keyPrefix?: string };
  const store = new RedisStore({ url: redis.url, keyPrefix: redis.keyPrefix ?? "mxb:" }, pino({ level: "silent" }));
  await store.connect();
  try {
    await store.saveLink({ kind: "plumbed", roomId, muc });
  } finally {
    await store.close();
  }
  const said = [await alice.sendText(roomId, "hello, anyone?"), await alice.sendText(roomId, "still there?")];
  const notices = (pattern: RegExp) => [...(alice.timeline.get(roomId) ?? [])].filter((e) => e.sender === BOT() && e.content.msgtype === "m.notice" && pattern.test(e.content.body as string));
  const waiting = await alice.waitForEvent((e) => e.room_id === roomId && e.content.msgtype === "m.notice" && /cannot be reached on XMPP/.test(e.content.body as string), "the notice that messages wait", 60_000);
  assert.match(waiting.content.body as string, new RegExp(`^${muc.replace(/\./g, "\\.")} cannot be reached on XMPP \\((remote-server-not-found|remote-server-timeout|no answer from the MUC)\\): messages for it wait, and are given up if it still cannot be reached after ${RETRY_SECONDS} seconds\\.$`));
  // Each message is given up once the wait is over: the window, a retry delay, and the attempts themselves.
  const givenUp = /^Your message could not be delivered to .*: your XMPP puppet could not join the room \((remote-server-not-found|remote-server-timeout|no answer from the MUC)\)\.$/;
  await alice.waitForEvent((e) => e.room_id === roomId && notices(givenUp).length === said.length, "a notice for each message given up", 4 * 60_000);
  assert.equal(notices(/cannot be reached on XMPP/).length, 1, "the room is told once that messages wait");
  for (const eventId of said) await suite.bridge.waitForLog((r) => r.msg === "message handled" && r.eventId === eventId);

  // No busy loop: the joins were retried with delays doubling from 0.5 s, so within the window at most
  // log2(2 × window / 0.5 s) + 1 of them (fewer when each takes long), then one more for each message.
  const lane = `matrix:${roomId}`;
  const retries = suite.bridge.records.filter((r) => r.msg === "delivery failed for now; the entry waits at the head of its lane" && r.lane === lane);
  const bound = Math.floor(Math.log2((2 * RETRY_SECONDS) / 0.5)) + 1;
  assert.ok(retries.length >= 1 && retries.length <= bound, `joins retried ${retries.length} times, expected 1 to ${bound}`);
  assert.equal(suite.bridge.records.filter((r) => r.msg === "message not delivered: the puppet cannot join the MUC" && r.muc === muc).length, said.length);
});
