/**
 * Encrypted Matrix rooms: the bridge holds no keys and cannot read them. It says so, in the room,
 * instead of dropping what is said there in silence.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { xml } from "@xmpp/client";
import { asBridgeBot, bodyOf, portalScene } from "./scenes.js";
import { bridgeSuite, stack, uniqueName } from "./harness.js";
import { MatrixTestClient, type ClientEvent } from "./matrix-client.js";
import { XmppTestClient } from "./xmpp-client.js";

const suite = bridgeSuite();

const ENCRYPTION = { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } };
const ghostOf = (jid: string): string => `@_xmpp_${jid.replace("@", "=40")}:${stack.matrixDomain}`;

/** The ghost's notice and its leaving, with the reason, as the room's members see them. */
async function declined(matrixUser: MatrixTestClient, roomId: string, ghost: string): Promise<{ notice: ClientEvent; leave: ClientEvent }> {
  const notice = await matrixUser.waitForEvent((e) => e.room_id === roomId && e.sender === ghost && e.content.msgtype === "m.notice", "the ghost's notice");
  const leave = await matrixUser.waitForEvent((e) => e.room_id === roomId && e.type === "m.room.member" && e.state_key === ghost && e.content.membership === "leave", "the ghost leaving");
  return { notice, leave };
}

test("a ghost invited into an encrypted room says it cannot read it, and leaves with that reason", async () => {
  const xmppUser = await XmppTestClient.login(uniqueName("x"));
  suite.xmppClients.push(xmppUser);
  const matrixUser = await MatrixTestClient.register(uniqueName("m"));
  const ghost = ghostOf(xmppUser.jid);
  const roomId = await matrixUser.createRoom({ is_direct: true, invite: [ghost], initial_state: [ENCRYPTION] });
  const { notice, leave } = await declined(matrixUser, roomId, ghost);
  assert.match(notice.content.body, /cannot read encrypted rooms/);
  assert.equal(leave.content.reason, notice.content.body);
  await suite.bridge.waitForLog((r) => r.msg === "declined an invite into an encrypted room" && r.roomId === roomId);

  // No direct chat was opened: the XMPP user's message opens one of its own, unencrypted.
  const puppet = `${matrixUser.userId.slice(1).replace(":", "%")}@${stack.componentDomain}`;
  await xmppUser.send(xml("message", { to: puppet, type: "chat", id: "after" }, xml("body", {}, "shall we talk here?")));
  const invite = await matrixUser.waitForInvite();
  assert.notEqual(invite, roomId);
  await matrixUser.join(invite);
  await matrixUser.waitForEvent((e) => e.room_id === invite && e.content.body === "shall we talk here?", "the message in a new room");
});

test("a direct chat that turns encryption on is told, and the XMPP user's next message opens a readable one", async () => {
  const xmppUser = await XmppTestClient.login(uniqueName("x"));
  suite.xmppClients.push(xmppUser);
  const matrixUser = await MatrixTestClient.register(uniqueName("m"));
  const ghost = ghostOf(xmppUser.jid);
  const roomId = await matrixUser.createRoom({ is_direct: true, invite: [ghost], preset: "trusted_private_chat" });
  await matrixUser.waitForEvent((e) => e.room_id === roomId && e.type === "m.room.member" && e.state_key === ghost && e.content.membership === "join", "the ghost joining");
  await matrixUser.sendText(roomId, "before encryption");
  await xmppUser.waitFor((s) => bodyOf(s) === "before encryption", "the message before encryption");

  await matrixUser.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.encryption/`, ENCRYPTION.content);
  const { notice, leave } = await declined(matrixUser, roomId, ghost);
  assert.match(notice.content.body, /now encrypted/);
  assert.equal(leave.content.reason, notice.content.body);

  await xmppUser.send(xml("message", { to: `${matrixUser.userId.slice(1).replace(":", "%")}@${stack.componentDomain}`, type: "chat", id: "after" }, xml("body", {}, "still there?")));
  const invite = await matrixUser.waitForInvite();
  assert.notEqual(invite, roomId);
  await matrixUser.join(invite);
  await matrixUser.waitForEvent((e) => e.room_id === invite && e.content.body === "still there?", "the message in a new room");
});

test("a portal that turns encryption on is told and unlinked: the puppets leave the MUC", async () => {
  const p = await portalScene(suite, "encrypted");
  const levelsPath = `/_matrix/client/v3/rooms/${encodeURIComponent(p.roomId)}/state/m.room.power_levels/`;
  const levels = (await asBridgeBot("GET", levelsPath)) as { users: Record<string, number> };
  await asBridgeBot("PUT", levelsPath, { ...levels, users: { ...levels.users, [p.matrixUser.userId]: 100 } });
  await p.setState("m.room.encryption", ENCRYPTION.content);
  const notice = await p.fromXmpp((e) => e.content.msgtype === "m.notice" && /now encrypted/.test(e.content.body as string), "the bot's notice");
  assert.match(notice.content.body, new RegExp(p.room.replace(/\./g, "\\.")));
  await p.xmppUser.waitFor((s) => s.is("presence") && s.attrs.from === `${p.room}/Max` && s.attrs.type === "unavailable", "Max's puppet leaving the MUC");
  await suite.bridge.waitForLog((r) => r.msg === "unlinked a room that turned encryption on" && r.roomId === p.roomId);
});
