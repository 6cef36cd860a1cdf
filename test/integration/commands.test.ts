import { test } from "node:test";
import assert from "node:assert/strict";
import { xml } from "@xmpp/client";
import { MatrixTestClient } from "./matrix-client.js";
import { bridgeSuite, eventually, stack, uniqueName } from "./harness.js";
import { BOT, noticeAfter, roomWithBot, xmppUserInMuc } from "./scenes.js";

const bodyOf = (s: ReturnType<typeof xml>) => s.getChildText("body");

let admin: MatrixTestClient;
const suite = bridgeSuite(async () => {
  admin = await MatrixTestClient.register(uniqueName("admin"));
  return { bridge: { permissions: { "*": "user", [admin.userId]: "admin" } } };
});

test("the bot joins when invited and answers help; list is for admins", async () => {
  const user = await MatrixTestClient.register(uniqueName("user"));
  const roomId = await roomWithBot(user);
  await user.sendText(roomId, "help");
  const help = await noticeAfter(user, roomId, /^Commands:/, "help");
  assert.match(help.content.body, /^join <room@muc\.service>/m);
  assert.doesNotMatch(help.content.body, /^list/m);
  await user.sendText(roomId, "list");
  await noticeAfter(user, roomId, /not allowed to use "list"/, "list refused");

  const adminRoom = await roomWithBot(admin);
  await admin.sendText(adminRoom, "list");
  await noticeAfter(admin, adminRoom, /linked room\(s\), page 1 of|No linked rooms/, "list for the admin");
  await admin.sendText(adminRoom, "status");
  await noticeAfter(admin, adminRoom, /redis up, xmpp up, homeserver up\nWaiting: \d+ for XMPP, \d+ for Matrix\./, "status for the admin");
});

test("join <muc> invites the user to the portal, which carries the m.bridge state", async () => {
  const room = `${uniqueName("joinme")}@${stack.mucDomain}`;
  const xmppUser = await xmppUserInMuc(suite, room, "host");
  const user = await MatrixTestClient.register(uniqueName("joiner"));
  const dm = await roomWithBot(user);
  await user.sendText(dm, `join ${room}`);
  await noticeAfter(user, dm, /^Invited you to/, "join answer");
  const portal = await user.waitForInvite();
  await user.join(portal);
  const state = await user.request("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(portal)}/state/m.bridge/${encodeURIComponent(`xmpp/${room}`)}`);
  assert.equal(state.channel.id, room);
  assert.equal(state.protocol.id, "xmpp");
  await user.sendText(portal, "joined by command");
  await xmppUser.waitFor((s) => bodyOf(s) === "joined by command", "the message in the MUC");
});

test("link plumbs an existing room to a MUC (power level 50 needed) and unlink undoes it", async () => {
  const room = `${uniqueName("plumb")}@${stack.mucDomain}`;
  const xmppUser = await xmppUserInMuc(suite, room, "resident");
  const owner = await MatrixTestClient.register(uniqueName("owner"));
  const guest = await MatrixTestClient.register(uniqueName("guest"));
  const roomId = await owner.createRoom({ preset: "public_chat", invite: [BOT()] });
  await eventually(async () => ((await owner.members(roomId)).get(BOT()) === "join" ? true : undefined), "the bot to join");
  await guest.join(roomId);

  await guest.sendText(roomId, `link ${room}`);
  await noticeAfter(owner, roomId, /power level 50 or more/, "link refused for power level 0");

  await owner.sendText(roomId, `link ${room}`);
  await noticeAfter(owner, roomId, /now bridged to/, "link done");
  const ownerNick = owner.userId.slice(1).split(":")[0];
  await xmppUser.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/${ownerNick}`, "the owner's puppet in the MUC");

  await xmppUser.send(xml("message", { to: room, type: "groupchat", id: "p1" }, xml("body", {}, "hello plumbed room")));
  await owner.waitForEvent((e) => e.room_id === roomId && e.content.body === "hello plumbed room", "XMPP message in the plumbed room");
  await owner.sendText(roomId, "hello MUC from a plumbed room");
  await xmppUser.waitFor((s) => bodyOf(s) === "hello MUC from a plumbed room", "Matrix message in the MUC");

  await owner.sendText(roomId, "!xmpp unlink");
  await noticeAfter(owner, roomId, /no longer bridged/, "unlink done");
  await xmppUser.waitFor((s) => s.is("presence") && s.attrs.type === "unavailable" && s.attrs.from === `${room}/${ownerNick}`, "the puppet leaves the MUC");
});
