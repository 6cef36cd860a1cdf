import { test } from "node:test";
import assert from "node:assert/strict";
import { xml } from "@xmpp/client";
import { MatrixTestClient, type ClientEvent } from "./matrix-client.js";
import { XmppTestClient } from "./xmpp-client.js";
import { bridgeSuite, NO_RATE_LIMIT, stack, uniqueName, sleep, eventually, portalAliasOf } from "./harness.js";
import { bodyOf, configureMuc, ghostOf, puppetOf } from "./scenes.js";

const MUC = "http://jabber.org/protocol/muc";

const suite = bridgeSuite(NO_RATE_LIMIT);
const loginXmpp = async (name: string) => {
  const c = await XmppTestClient.login(uniqueName(name));
  suite.xmppClients.push(c);
  return c;
};

/** The XMPP user enters (and so creates) a MUC; resolves once the room reflected their own presence. */
async function joinMuc(user: XmppTestClient, room: string, nick: string): Promise<void> {
  await user.send(xml("presence", { to: `${room}/${nick}` }, xml("x", { xmlns: MUC })));
  await user.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/${nick}`, `self-presence in ${room}`);
}

const groupMessagesFrom = (user: XmppTestClient, room: string, nick?: string) =>
  user.stanzas.filter((s) => s.is("message") && s.attrs.type === "groupchat" && s.attrs.from?.startsWith(`${room}/`) && (!nick || s.attrs.from === `${room}/${nick}`) && bodyOf(s) !== null);

test("an XMPP user writes to a Matrix user: a direct room opens, the message arrives, and the reply goes back", async () => {
  const alice = await MatrixTestClient.register(uniqueName("alice"));
  const bob = await loginXmpp("bob");
  await bob.send(xml("message", { to: puppetOf(alice.userId), type: "chat", id: "dm1" }, xml("body", {}, "hello from XMPP"), xml("nick", { xmlns: "http://jabber.org/protocol/nick" }, "Bobby")));

  const roomId = await alice.waitForInvite();
  const invite = alice.inviteState.get(roomId)?.find((e) => e.type === "m.room.member" && e.state_key === alice.userId);
  assert.equal(invite?.content.is_direct, true, "the invite is marked direct");
  await alice.join(roomId);
  const first = await alice.waitForEvent((e) => e.type === "m.room.message" && e.content.body === "hello from XMPP", "the DM message");
  assert.equal(first.sender, ghostOf(bob.jid));

  await bob.send(xml("message", { to: puppetOf(alice.userId), type: "chat", id: "dm2" }, xml("body", {}, "second")));
  const second = await alice.waitForEvent((e) => e.content.body === "second", "the second DM message");
  assert.equal(second.room_id, roomId, "later messages go to the same room");
  const profile = await alice.request("GET", `/_matrix/client/v3/profile/${encodeURIComponent(ghostOf(bob.jid))}`);
  assert.equal(profile.displayname, "Bobby", "the ghost is named by the XEP-0172 nick, and a message without one keeps it");

  await alice.sendText(roomId, "hello from Matrix");
  const reply = await bob.waitFor((s) => s.is("message") && bodyOf(s) === "hello from Matrix", "the reply on XMPP");
  assert.equal(reply.attrs.type, "chat");
  assert.equal(reply.attrs.from?.split("/")[0], puppetOf(alice.userId));
  assert.ok(reply.getChild("origin-id", "urn:xmpp:sid:0")?.attrs.id, "every message the bridge sends carries an origin-id");
});

test("a Matrix user who left the DM is invited again by the next XMPP message", async () => {
  const alice = await MatrixTestClient.register(uniqueName("leaver"));
  const bob = await loginXmpp("bob");
  await bob.send(xml("message", { to: puppetOf(alice.userId), type: "chat", id: "l1" }, xml("body", {}, "are you there?")));
  const roomId = await alice.waitForInvite();
  await alice.join(roomId);
  await alice.waitForEvent((e) => e.content.body === "are you there?", "first message");
  await alice.request("POST", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/leave`, {});
  await alice.sync();

  await bob.send(xml("message", { to: puppetOf(alice.userId), type: "chat", id: "l2" }, xml("body", {}, "come back")));
  const again = await alice.waitForInvite();
  await alice.join(again);
  await alice.waitForEvent((e) => e.content.body === "come back", "the message after leaving");
});

test("a Matrix user invites an XMPP user's ghost: the ghost joins and the chat works both ways", async () => {
  const carol = await MatrixTestClient.register(uniqueName("carol"));
  const dave = await loginXmpp("dave");
  const roomId = await carol.createRoom({ preset: "trusted_private_chat", is_direct: true, invite: [ghostOf(dave.jid)] });
  await eventually(async () => ((await carol.members(roomId)).get(ghostOf(dave.jid)) === "join" ? true : undefined), "the ghost to join");

  await carol.sendText(roomId, "hi dave, from Matrix");
  const got = await dave.waitFor((s) => s.is("message") && bodyOf(s) === "hi dave, from Matrix", "Matrix message on XMPP");
  assert.equal(got.attrs.from?.split("/")[0], puppetOf(carol.userId));

  await dave.send(xml("message", { to: puppetOf(carol.userId), type: "chat", id: "r1" }, xml("body", {}, "hi carol")));
  const back = await carol.waitForEvent((e) => e.content.body === "hi carol", "the XMPP reply");
  assert.equal(back.room_id, roomId, "the reply lands in the room the Matrix user opened");
});

test("portal: joining #_xmpp_room=40service brings the Matrix user into the MUC, messages flow both ways exactly once", async () => {
  const room = `${uniqueName("lounge")}@${stack.mucDomain}`;
  const erin = await loginXmpp("erin");
  await joinMuc(erin, room, "erin");

  const frank = await MatrixTestClient.register(uniqueName("frank"));
  await frank.request("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(frank.userId)}/displayname`, { displayname: "Frank" });
  const alias = portalAliasOf(room);
  const roomId = await frank.join(alias);

  await erin.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Frank`, "Frank's puppet in the MUC");
  // The MUC is semi-anonymous (the default): the ghost stands for the occupant, named by its nick.
  const erinGhost = await eventually(() => frank.memberNamed(roomId, "erin"), "erin's ghost in the portal");
  assert.match(erinGhost, /^@_xmpp_lounge/);

  await frank.sendText(roomId, "hello MUC");
  await erin.waitFor(() => groupMessagesFrom(erin, room, "Frank").some((m) => bodyOf(m) === "hello MUC"), "Matrix message in the MUC");

  await erin.send(xml("message", { to: room, type: "groupchat", id: "s1" }, xml("subject", {}, "Topic of the lounge")));
  await frank.waitForEvent((e) => e.room_id === roomId && e.type === "m.room.topic" && e.content.topic === "Topic of the lounge", "the MUC subject as the room topic");
  await erin.send(xml("message", { to: room, type: "groupchat", id: "g1" }, xml("body", {}, "hello portal")));
  const got = await frank.waitForEvent((e) => e.room_id === roomId && e.content.body === "hello portal", "MUC message in the portal");
  assert.equal(got.sender, erinGhost);

  // Exactly once: the MUC's reflection of Frank's message and the copy each puppet gets stay out.
  await sleep(1500);
  await frank.sync();
  const bodies = frank.messages(roomId).map((e) => e.content.body);
  assert.equal(bodies.filter((b) => b === "hello MUC").length, 1);
  assert.equal(bodies.filter((b) => b === "hello portal").length, 1);
  assert.equal(groupMessagesFrom(erin, room, "Frank").filter((m) => bodyOf(m) === "hello MUC").length, 1);
});

test("a burst of 200 messages each way arrives complete, in order, once", async () => {
  const room = `${uniqueName("burst")}@${stack.mucDomain}`;
  const gina = await loginXmpp("gina");
  await joinMuc(gina, room, "gina");
  const hank = await MatrixTestClient.register(uniqueName("hank"));
  const roomId = await hank.join(portalAliasOf(room));
  await eventually(() => hank.memberNamed(roomId, "gina"), "gina's ghost in the portal");

  const count = 200;
  for (let i = 0; i < count; i++) void gina.send(xml("message", { to: room, type: "groupchat", id: `b${i}` }, xml("body", {}, `x${i}`)));
  const bodies = async (prefix: string) => (await hank.history(roomId)).map((e: ClientEvent) => e.content.body as string).filter((b) => b.startsWith(prefix));
  await eventually(async () => ((await bodies("x")).length >= count ? true : undefined), "200 messages on Matrix", 120_000);
  await sleep(1000);
  const toMatrix = await bodies("x");
  assert.deepEqual(toMatrix, Array.from({ length: count }, (_, i) => `x${i}`));

  const sends: Promise<string>[] = [];
  for (let i = 0; i < count; i++) sends.push(hank.sendText(roomId, `m${i}`));
  await Promise.all(sends);
  await eventually(() => (groupMessagesFrom(gina, room).filter((m) => bodyOf(m)?.startsWith("m")).length >= count ? true : undefined), "200 messages on XMPP", 120_000);
  await sleep(1000);
  const toXmpp = groupMessagesFrom(gina, room).map((m) => bodyOf(m)!).filter((b) => b.startsWith("m"));
  // Matrix orders the room's events; the bridge must keep that order.
  const matrixOrder = await bodies("m");
  assert.equal(matrixOrder.length, count);
  assert.deepEqual(toXmpp, matrixOrder);
  assert.equal(new Set(toXmpp).size, count);
});

test("nick conflict: a puppet whose nick is taken joins under another nick and its messages still arrive", async () => {
  const room = `${uniqueName("clash")}@${stack.mucDomain}`;
  const ivan = await loginXmpp("ivan");
  await joinMuc(ivan, room, "Judy");
  const judy = await MatrixTestClient.register(uniqueName("judy"));
  await judy.request("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(judy.userId)}/displayname`, { displayname: "Judy" });
  const roomId = await judy.join(portalAliasOf(room));
  await judy.sendText(roomId, "I am the other Judy");
  const msg = await ivan.waitFor((s) => s.is("message") && bodyOf(s) === "I am the other Judy", "the message under the distinct nick");
  assert.notEqual(msg.attrs.from, `${room}/Judy`);
  assert.match(msg.attrs.from ?? "", /\/Judy \(Matrix\)$/);
});

test("after a bridge restart, portals and DMs keep working without duplicating history", async () => {
  const room = `${uniqueName("restart")}@${stack.mucDomain}`;
  const kim = await loginXmpp("kim");
  await joinMuc(kim, room, "kim");
  const leo = await MatrixTestClient.register(uniqueName("leo"));
  const roomId = await leo.join(portalAliasOf(room));
  await leo.sendText(roomId, "before restart");
  await kim.waitFor((s) => s.is("message") && bodyOf(s) === "before restart", "message before restart");
  await kim.send(xml("message", { to: room, type: "groupchat", id: "pre" }, xml("body", {}, "seen before restart")));
  await leo.waitForEvent((e) => e.content.body === "seen before restart", "XMPP message before restart");

  await suite.bridge.stop();
  await kim.send(xml("message", { to: room, type: "groupchat", id: "away" }, xml("body", {}, "said while the bridge was away")));
  await kim.waitFor((s) => bodyOf(s) === "said while the bridge was away" && s.attrs.from === `${room}/kim`, "the MUC's echo");
  await suite.restartBridge();
  await leo.waitForEvent((e) => e.content.body === "said while the bridge was away", "the message said while the bridge was away");

  await leo.sendText(roomId, "after restart");
  await kim.waitFor((s) => s.is("message") && bodyOf(s) === "after restart", "message after restart");
  await kim.send(xml("message", { to: room, type: "groupchat", id: "post" }, xml("body", {}, "seen after restart")));
  await leo.waitForEvent((e) => e.content.body === "seen after restart", "XMPP message after restart");
  await sleep(1500);
  await leo.sync();
  const bodies = leo.messages(roomId).map((e) => e.content.body);
  assert.equal(bodies.filter((b) => b === "seen before restart").length, 1, "no history replayed into Matrix");
  assert.equal(bodies.filter((b) => b === "said while the bridge was away").length, 1, "caught up once");
});

test("a Matrix display name change is an XMPP nick change (status 303)", async () => {
  const room = `${uniqueName("nicks")}@${stack.mucDomain}`;
  const mia = await loginXmpp("mia");
  await joinMuc(mia, room, "mia");
  const ned = await MatrixTestClient.register(uniqueName("ned"));
  await ned.request("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(ned.userId)}/displayname`, { displayname: "Ned" });
  await ned.join(portalAliasOf(room));
  await mia.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Ned`, "Ned's puppet");
  await ned.request("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(ned.userId)}/displayname`, { displayname: "Edward" });
  const change = await mia.waitFor((s) => s.is("presence") && s.attrs.type === "unavailable" && s.attrs.from === `${room}/Ned`, "the nick change");
  const x = change.getChild("x", "http://jabber.org/protocol/muc#user");
  assert.ok(x?.getChildren("status").some((st) => st.attrs.code === "303"));
  assert.equal(x?.getChild("item")?.attrs.nick, "Edward");
  await mia.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Edward` && s.attrs.type !== "unavailable", "Edward's presence");
});

test("an XMPP moderator's kick of a puppet removes its Matrix user from the portal", async () => {
  const room = `${uniqueName("kicks")}@${stack.mucDomain}`;
  const owner = await loginXmpp("owner");
  await joinMuc(owner, room, "owner");
  const pat = await MatrixTestClient.register(uniqueName("pat"));
  await pat.request("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(pat.userId)}/displayname`, { displayname: "Pat" });
  const roomId = await pat.join(portalAliasOf(room));
  await owner.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Pat`, "Pat's puppet");

  await owner.iq(
    xml("iq", { type: "set", to: room, id: "kick1" }, xml("query", { xmlns: "http://jabber.org/protocol/muc#admin" }, xml("item", { nick: "Pat", role: "none" }, xml("reason", {}, "out")))),
  );
  const kick = await pat.waitForEvent((e) => e.room_id === roomId && e.type === "m.room.member" && e.state_key === pat.userId && e.content.membership === "leave", "Pat's kick");
  assert.equal(kick.sender, `@xmppbot:${stack.matrixDomain}`);
  assert.match(kick.content.reason, /kicked from .* on XMPP/);
});

test("a Matrix user whose puppet cannot join the MUC is told so in the room, not left in silence", async () => {
  const room = `${uniqueName("closed")}@${stack.mucDomain}`;
  const owner = await loginXmpp("keeper");
  await joinMuc(owner, room, "keeper");
  // Members only: the puppet, not being a member, is refused with registration-required.
  await configureMuc(owner, room, "muc#roomconfig_membersonly", "1");
  const quinn = await MatrixTestClient.register(uniqueName("quinn"));
  const roomId = await quinn.join(portalAliasOf(room));
  await quinn.sendText(roomId, "can anyone hear me?");
  await quinn.waitForEvent((e) => e.room_id === roomId && e.content.msgtype === "m.notice" && /could not join .*registration-required/.test(e.content.body), "the notice on joining");
  await quinn.waitForEvent((e) => e.room_id === roomId && e.content.msgtype === "m.notice" && /could not be delivered to .*registration-required/.test(e.content.body), "the notice for the message");
});

test("in a non-anonymous MUC an occupant is the same ghost as in a DM: the ghost of their real JID", async () => {
  const room = `${uniqueName("open")}@${stack.mucDomain}`;
  const rose = await loginXmpp("rose");
  await joinMuc(rose, room, "rose");
  await configureMuc(rose, room, "muc#roomconfig_whois", "anyone");
  const sam = await MatrixTestClient.register(uniqueName("sam"));
  const roomId = await sam.join(portalAliasOf(room));
  await eventually(async () => ((await sam.members(roomId)).get(ghostOf(rose.jid)) === "join" ? true : undefined), "rose's own ghost in the portal");
  // The nick is the ghost's name in this room, set just after it joins.
  const sender = await eventually(() => sam.memberNamed(roomId, "rose"), "rose's ghost named by her nick");
  assert.equal(sender, ghostOf(rose.jid), "named by the nick in this room");
});

test("an occupant stays one ghost when a puppet made moderator starts seeing real JIDs; their leaving is bridged", async () => {
  const room = `${uniqueName("semi")}@${stack.mucDomain}`;
  const owner = await loginXmpp("olga");
  await joinMuc(owner, room, "olga");
  const guest = await loginXmpp("gus");
  await joinMuc(guest, room, "gus");
  const tia = await MatrixTestClient.register(uniqueName("tia"));
  await tia.request("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(tia.userId)}/displayname`, { displayname: "Tia" });
  const roomId = await tia.join(portalAliasOf(room));
  await owner.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Tia`, "Tia's puppet");
  // Semi-anonymous: the puppet, a participant, sees gus by nick only.
  const gusGhost = await eventually(() => tia.memberNamed(roomId, "gus"), "gus's ghost");
  assert.notEqual(gusGhost, ghostOf(guest.jid));

  await owner.iq(xml("iq", { type: "set", to: room }, xml("query", { xmlns: `${MUC}#admin` }, xml("item", { nick: "Tia", role: "moderator" }))));
  await owner.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Tia` && s.getChild("x", `${MUC}#user`)?.getChild("item")?.attrs.role === "moderator", "Tia made moderator");
  await guest.send(xml("presence", { to: `${room}/gus`, type: "unavailable" }));
  await eventually(async () => ((await tia.members(roomId)).get(gusGhost) === "leave" ? true : undefined), "gus's ghost leaving");
  assert.equal((await tia.members(roomId)).get(ghostOf(guest.jid)), undefined, "no second ghost for gus");
});

test("a ghost is named by the XMPP user's vCard when their messages carry no nickname", async () => {
  const vera = await loginXmpp("vera");
  await vera.iq(xml("iq", { type: "set", id: "vc1" }, xml("vCard", { xmlns: "vcard-temp" }, xml("NICKNAME", {}, "Vee"), xml("FN", {}, "Vera Example"))));
  const wes = await MatrixTestClient.register(uniqueName("wes"));
  await vera.send(xml("message", { to: puppetOf(wes.userId), type: "chat", id: "v1" }, xml("body", {}, "hi from Vee")));
  const roomId = await wes.waitForInvite();
  await wes.join(roomId);
  await wes.waitForEvent((e) => e.content.body === "hi from Vee", "the message");
  const profile = await wes.request("GET", `/_matrix/client/v3/profile/${encodeURIComponent(ghostOf(vera.jid))}`);
  assert.equal(profile.displayname, "Vee");
});

test("the @-form of a portal alias works as typed", async () => {
  const room = `${uniqueName("typed")}@${stack.mucDomain}`;
  const tara = await loginXmpp("tara");
  await joinMuc(tara, room, "tara");
  const uma = await MatrixTestClient.register(uniqueName("uma"));
  const roomId = await uma.join(`#_xmpp_${room}:${stack.matrixDomain}`);
  await uma.sendText(roomId, "typed the JID as it is");
  await tara.waitFor((s) => bodyOf(s) === "typed the JID as it is", "the message in the MUC");
});
