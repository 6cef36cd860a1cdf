import { test } from "node:test";
import assert from "node:assert/strict";
import { xml } from "@xmpp/client";
import { MatrixTestClient } from "./matrix-client.js";
import { baseConfig, bridgeSuite, eventually, portalAliasOf, sleep, stack, uniqueName } from "./harness.js";
import { bodyOf, directChatScene, ghostOf, portalScene, stanzaIdOf } from "./scenes.js";
import { XmppTestClient } from "./xmpp-client.js";

const RECEIPTS = "urn:xmpp:receipts";
const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

const suite = bridgeSuite();

test("delivery receipts (XEP-0184): a DM message is confirmed once it is on Matrix; one Matrix refuses gets an error with its id and why", async () => {
  const { xmppUser, matrixUser, puppet, roomId, fromXmpp, send } = await directChatScene(suite, { id: "first", body: "hello" });
  const info = await xmppUser.iq(xml("iq", { type: "get", to: puppet }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })));
  assert.ok(info.getChild("query")?.getChildren("feature").some((f) => f.attrs.var === RECEIPTS), "puppets advertise receipts");

  await send("asked", xml("body", {}, "tell me when it arrives"), xml("request", { xmlns: RECEIPTS }));
  const receipt = await xmppUser.waitFor((s) => s.is("message") && s.getChild("received", RECEIPTS)?.attrs.id === "asked", "the receipt");
  assert.equal(receipt.attrs.from?.split("/")[0], puppet);
  // The receipt came after the homeserver took the message: it is in the room's history by now.
  const bodies = (await matrixUser.history(roomId)).map((e) => e.content.body);
  assert.ok(bodies.includes("tell me when it arrives"), "the Matrix event exists when the receipt arrives");

  // A correction is one event with its new text twice (body and m.new_content): over Synapse's 64 KiB it is refused for good.
  const long = "x".repeat(40_000);
  await send("huge", xml("body", {}, long), xml("replace", { xmlns: "urn:xmpp:message-correct:0", id: "asked" }), xml("request", { xmlns: RECEIPTS }));
  const error = await xmppUser.waitFor((s) => s.is("message") && s.attrs.type === "error" && s.attrs.id === "huge", "the error for the refused correction");
  assert.equal(error.attrs.from?.split("/")[0], puppet);
  assert.ok(error.getChild("error")?.getChild("not-acceptable", STANZAS), "not-acceptable");
  assert.match(error.getChild("error")?.getChildText("text", STANZAS) ?? "", /not delivered to Matrix: it is too large/);
  assert.ok(!xmppUser.stanzas.some((s) => s.getChild("received", RECEIPTS)?.attrs.id === "huge"), "no receipt for it");

  // The conversation goes on.
  await send("after", xml("body", {}, "still here"), xml("request", { xmlns: RECEIPTS }));
  await fromXmpp((e) => e.content.body === "still here", "the next message");
  await xmppUser.waitFor((s) => s.getChild("received", RECEIPTS)?.attrs.id === "after", "its receipt");
});

test("a Matrix message the XMPP side sends back for good gets a notice replying to it, saying why", async () => {
  const carol = await MatrixTestClient.register(uniqueName("carol"));
  const nobody = `${uniqueName("nobody")}@${stack.xmppDomain}`;
  const roomId = await carol.createRoom({ preset: "trusted_private_chat", is_direct: true, invite: [ghostOf(nobody)] });
  await eventually(async () => ((await carol.members(roomId)).get(ghostOf(nobody)) === "join" ? true : undefined), "the ghost to join");
  const eventId = await carol.sendText(roomId, "is anyone there?");
  const notice = await carol.waitForEvent((e) => e.room_id === roomId && e.content.msgtype === "m.notice" && /not delivered to XMPP/.test(e.content.body), "the notice", 30_000);
  assert.equal(notice.content["m.relates_to"]?.["m.in_reply_to"]?.event_id, eventId);
  assert.match(notice.content.body, new RegExp(`${nobody.replace(/\./g, "\\.")} cannot be reached`));
  const metricsPort = (baseConfig().metrics as { port: number }).port;
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  assert.match(metrics, /bridge_undeliverable_messages_total\{direction="matrix_to_xmpp",reason="[a-z-]+"\} [1-9]/);
});

const MUC = "http://jabber.org/protocol/muc";
const groupchat = (room: string, body: string) => xml("message", { to: room, type: "groupchat", id: body }, xml("body", {}, body));

test("after the bridge was away, a portal gets all the MUC said meanwhile from its archive, more than its history holds: in order, once", async () => {
  const { room, xmppUser, matrixUser, roomId, fromXmpp } = await portalScene(suite, "away");
  await xmppUser.send(groupchat(room, "a0"));
  await fromXmpp((e) => e.content.body === "a0", "a message before the bridge stops");
  assert.equal(await suite.bridge.stop(), 0);

  // More than the room's history keeps (20 with both servers' defaults), so only the archive has them all.
  const count = 30;
  for (let i = 1; i <= count; i++) await xmppUser.send(groupchat(room, `a${i}`));
  await xmppUser.waitFor((s) => s.is("message") && s.attrs.from === `${room}/xena` && bodyOf(s) === `a${count}`, "the last reflection");
  await suite.restartBridge();
  await xmppUser.send(groupchat(room, "live"));

  const bodies = async () => (await matrixUser.history(roomId)).map((e) => e.content.body as string).filter((b) => /^a\d+$|^live$/.test(b));
  await eventually(async () => ((await bodies()).includes("live") ? true : undefined), "the message said after the restart", 60_000);
  await sleep(1500);
  assert.deepEqual(await bodies(), [...Array.from({ length: count + 1 }, (_, i) => `a${i}`), "live"]);
  assert.ok(suite.bridge.records.some((r) => r.msg === "MUC caught up from its archive"), "read from the archive");
});

test("a new portal starts with the MUC's last messages, oldest first, each by its sender's ghost at its time; they can be replied to", async () => {
  const room = `${uniqueName("backfill")}@${stack.mucDomain}`;
  const xena = await XmppTestClient.login(uniqueName("x"));
  suite.xmppClients.push(xena);
  await xena.send(xml("presence", { to: `${room}/xena` }, xml("x", { xmlns: MUC })));
  await xena.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/xena`, "self-presence");
  const said: { body: string; stanzaId: string; at: number }[] = [];
  for (let i = 1; i <= 5; i++) {
    await xena.send(groupchat(room, `b${i}`));
    const echo = await xena.waitFor((s) => s.is("message") && s.attrs.from === `${room}/xena` && bodyOf(s) === `b${i}`, "the reflection");
    said.push({ body: `b${i}`, stanzaId: stanzaIdOf(echo, room)!, at: Date.now() });
  }
  await sleep(1500);
  const opened = Date.now();

  const matrixUser = await MatrixTestClient.register(uniqueName("m"));
  const roomId = await matrixUser.join(portalAliasOf(room));
  await xena.waitFor((s) => s.is("presence") && s.attrs.from?.startsWith(`${room}/`) === true && s.attrs.from !== `${room}/xena`, "the puppet in the MUC");
  await xena.send(groupchat(room, "b-live"));
  const events = async () => (await matrixUser.history(roomId)).filter((e) => /^b/.test(String(e.content.body)));
  await eventually(async () => ((await events()).some((e) => e.content.body === "b-live") ? true : undefined), "the live message after the backfill", 30_000);
  await sleep(1000);
  const got = await events();
  assert.deepEqual(got.map((e) => e.content.body), [...said.map((s) => s.body), "b-live"]);
  const ghost = got[0]!.sender;
  assert.ok(got.every((e) => e.sender === ghost) && ghost.startsWith("@_xmpp_"), "each by the sender's ghost");
  const times = got.slice(0, 5).map((e) => (e as unknown as { origin_server_ts: number }).origin_server_ts);
  for (const [i, time] of times.entries()) assert.ok(Math.abs(time - said[i]!.at) < 1500 && time < opened, `b${i + 1} keeps its time`);

  // Each is in the message map: a reply from Matrix names the room's stanza-id.
  await matrixUser.send(roomId, { msgtype: "m.text", body: "answering b2", "m.relates_to": { "m.in_reply_to": { event_id: got[1]!.event_id } } });
  const reply = await xena.waitFor((s) => s.is("message") && bodyOf(s)?.endsWith("answering b2") === true, "the reply on XMPP");
  assert.equal(reply.getChild("reply", "urn:xmpp:reply:0")?.attrs.id, said[1]!.stanzaId);
});
