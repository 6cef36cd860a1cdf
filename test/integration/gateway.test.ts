import { test } from "node:test";
import assert from "node:assert/strict";
import { xml } from "@xmpp/client";
import { MatrixTestClient } from "./matrix-client.js";
import { XmppTestClient } from "./xmpp-client.js";
import { bridgeSuite, stack, uniqueName, eventually, portalAliasOf } from "./harness.js";
import { bodyOf, stanzaIdOf, type Stanza } from "./scenes.js";

const MUC = "http://jabber.org/protocol/muc";
const MUC_USER = "http://jabber.org/protocol/muc#user";
const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

const suite = bridgeSuite();
const loginXmpp = async (name: string) => {
  const c = await XmppTestClient.login(uniqueName(name));
  suite.xmppClients.push(c);
  return c;
};

/** A gateway room's JID for a Matrix room alias or ID (docs/addressing.md). */
const gatewayJid = (ref: string): string => {
  const [local, server] = [ref.slice(0, ref.indexOf(":")), ref.slice(ref.indexOf(":") + 1)];
  return `${`${local}%${server}`.replace(/[A-Z^]/g, (c) => (c === "^" ? "^^" : `^${c.toLowerCase()}`))}@${stack.componentDomain}`;
};

/** A public Matrix room with an alias and a topic, made by a user named `name`, who has said two things in it. */
async function matrixRoom(name: string) {
  const owner = await MatrixTestClient.register(uniqueName(name.toLowerCase()));
  await owner.request("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(owner.userId)}/displayname`, { displayname: name });
  const aliasName = uniqueName("lobby");
  const roomId = await owner.createRoom({ preset: "public_chat", visibility: "public", room_alias_name: aliasName, topic: "Welcome, XMPP users" });
  await owner.sendText(roomId, "first");
  await owner.sendText(roomId, "second");
  return { owner, roomId, alias: `#${aliasName}:${stack.matrixDomain}` };
}

/** The XMPP user enters the gateway room as `nick`; resolves with what the room sent until the subject, in order. */
async function enter(user: XmppTestClient, room: string, nick: string, history?: Record<string, string>): Promise<Stanza[]> {
  const start = user.stanzas.length;
  await user.send(xml("presence", { to: `${room}/${nick}` }, xml("x", { xmlns: MUC }, history ? xml("history", history) : undefined)));
  await user.waitFor((s) => s.is("message") && s.attrs.from === room && s.getChild("subject") !== undefined, `the subject of ${room}`);
  return user.stanzas.slice(start).filter((s) => String(s.attrs.from).startsWith(room));
}

/** A Matrix room made by `owner`, with two XMPP users in it as gateway occupants under their names. */
async function roomWithTwo(owner: string, first: string, second: string) {
  const made = await matrixRoom(owner);
  const room = gatewayJid(made.alias);
  const [a, b] = [await loginXmpp(first.toLowerCase()), await loginXmpp(second.toLowerCase())];
  await enter(a, room, first, { maxstanzas: "0" });
  await enter(b, room, second, { maxstanzas: "0" });
  return { ...made, room, occupants: [a, b] as const };
}

/** A Matrix room made by `owner`, with one XMPP user in it as a gateway occupant under their name, and its ghost. */
async function roomWithOne(owner: string, name: string) {
  const made = await matrixRoom(owner);
  const room = gatewayJid(made.alias);
  const occupant = await loginXmpp(name.toLowerCase());
  await enter(occupant, room, name, { maxstanzas: "0" });
  const ghost = await eventually(() => made.owner.memberNamed(made.roomId, name), `${name}'s ghost`);
  return { ...made, room, occupant, ghost };
}

/** The error the room answered a join with. */
async function refusedJoin(user: XmppTestClient, room: string, nick: string): Promise<string | undefined> {
  await user.send(xml("presence", { to: `${room}/${nick}` }, xml("x", { xmlns: MUC })));
  const error = await user.waitFor((s) => s.is("presence") && s.attrs.type === "error" && s.attrs.from === `${room}/${nick}`, `the refusal of ${room}`);
  return error.getChild("error")?.getChildElements().find((e) => e.getNS() === STANZAS && e.name !== "text")?.name;
}

const statuses = (s: Stanza): string[] => (s.getChild("x", MUC_USER)?.getChildren("status") ?? []).map((c) => String(c.attrs.code));

test("an XMPP user joins a Matrix room by its alias: occupants, own presence, history and subject, in that order", async () => {
  const { owner, roomId, alias } = await matrixRoom("Alice");
  const xavier = await loginXmpp("xavier");
  const room = gatewayJid(alias);
  const got = await enter(xavier, room, "Xavier", { maxstanzas: "5" });

  const kinds = got.map((s) => (s.is("presence") ? `presence ${String(s.attrs.from).split("/")[1]}` : s.getChild("subject") ? "subject" : `message ${bodyOf(s)}`));
  assert.deepEqual(kinds, ["presence Alice", "presence Xavier", "message first", "message second", "subject"]);
  const [alice, self, first, , subject] = got as [Stanza, Stanza, Stanza, Stanza, Stanza];
  assert.deepEqual(alice.getChild("x", MUC_USER)?.getChild("item")?.attrs, { affiliation: "owner", role: "moderator" }, "the room's creator owns it");
  assert.ok(alice.getChild("occupant-id", "urn:xmpp:occupant-id:0")?.attrs.id);
  assert.deepEqual(statuses(self), ["110"]);
  assert.ok(first.getChild("delay", "urn:xmpp:delay")?.attrs.stamp, "history carries its time");
  assert.ok(stanzaIdOf(first, room), "and the room's stanza-id");
  assert.equal(subject.getChildText("subject"), "Welcome, XMPP users");

  const ghost = await eventually(() => owner.memberNamed(roomId, "Xavier"), "Xavier's ghost in the room, named by his nick");
  assert.match(ghost, /^@_xmpp_/);
});

test("messages both ways: the sender gets its own back with the room's stanza-id, Matrix users see the ghost's", async () => {
  const { owner, roomId, alias } = await matrixRoom("Bea");
  const yann = await loginXmpp("yann");
  const room = gatewayJid(alias);
  await enter(yann, room, "Yann", { maxstanzas: "0" });

  await yann.send(xml("message", { to: room, type: "groupchat", id: "y1" }, xml("body", {}, "hello from XMPP")));
  const onMatrix = await owner.waitForEvent((e) => e.room_id === roomId && e.content.body === "hello from XMPP", "Yann's message on Matrix");
  assert.match(onMatrix.sender, /^@_xmpp_/);
  const reflection = await yann.waitFor((s) => s.is("message") && s.attrs.id === "y1" && s.attrs.from === `${room}/Yann`, "the reflection");
  assert.equal(stanzaIdOf(reflection, room), onMatrix.event_id.replace(/^\$/, ""));

  await owner.sendText(roomId, "hello from Matrix");
  const fromMatrix = await yann.waitFor((s) => s.is("message") && bodyOf(s) === "hello from Matrix", "Bea's message");
  assert.equal(fromMatrix.attrs.from, `${room}/Bea`);
  assert.equal(fromMatrix.attrs.type, "groupchat");
  assert.ok(stanzaIdOf(fromMatrix, room));
});

test("joins that cannot succeed get their error and nothing else", async () => {
  const { alias } = await matrixRoom("Carla");
  const zoe = await loginXmpp("zoe");
  assert.equal(await refusedJoin(zoe, gatewayJid(`#nosuchroom${uniqueName("x")}:${stack.matrixDomain}`), "Zoe"), "item-not-found");
  assert.equal(await refusedJoin(zoe, gatewayJid(portalAliasOf(`somewhere@conference.${stack.xmppDomain}`)), "Zoe"), "not-allowed");
  assert.equal(await refusedJoin(zoe, gatewayJid(alias), "Carla"), "conflict");
  assert.equal(zoe.stanzas.filter((s) => s.is("presence") && s.attrs.type !== "error" && String(s.attrs.from).includes("%")).length, 0, "no presence besides the errors");
});

test("by room ID too; leaving takes the ghost out of the Matrix room", async () => {
  const { owner, roomId } = await matrixRoom("Dora");
  const walt = await loginXmpp("walt");
  const room = gatewayJid(roomId);
  await enter(walt, room, "Walt", { maxstanzas: "0" });
  const ghost = await eventually(() => owner.memberNamed(roomId, "Walt"), "Walt's ghost");
  await walt.send(xml("presence", { to: `${room}/Walt`, type: "unavailable" }));
  const gone = await walt.waitFor((s) => s.is("presence") && s.attrs.type === "unavailable" && s.attrs.from === `${room}/Walt`, "Walt's own leave");
  assert.deepEqual(statuses(gone), ["110"]);
  await eventually(async () => ((await owner.members(roomId)).get(ghost) === "leave" ? true : undefined), "the ghost left on Matrix");
});

test("occupants see each other and the Matrix members come, rename, go and get kicked; a nick change is status 303", async () => {
  const { owner, roomId, room, occupants: [una, vic] } = await roomWithTwo("Erin", "Una", "Vic");
  await una.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Vic` && s.attrs.type === undefined, "Vic entering, for Una");

  await vic.send(xml("message", { to: room, type: "groupchat", id: "v1" }, xml("body", {}, "hi Una")));
  const heard = await una.waitFor((s) => s.is("message") && bodyOf(s) === "hi Una", "Vic's message, for Una");
  assert.equal(heard.attrs.from, `${room}/Vic`);
  await owner.waitForEvent((e) => e.room_id === roomId && e.content.body === "hi Una", "Vic's message on Matrix");
  await vic.waitFor((s) => s.is("message") && s.attrs.id === "v1" && stanzaIdOf(s, room) !== undefined, "Vic's message back");
  assert.equal(vic.stanzas.filter((s) => s.is("message") && bodyOf(s) === "hi Una").length, 1, "Vic gets his own message back once");

  const fay = await MatrixTestClient.register(uniqueName("fay"));
  await fay.request("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(fay.userId)}/displayname`, { displayname: "Fay" });
  await fay.join(roomId);
  await una.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Fay` && s.attrs.type === undefined, "Fay entering");
  await fay.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(fay.userId)}`, { membership: "join", displayname: "Fiona" });
  const renamed = await una.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Fay` && s.attrs.type === "unavailable", "Fay's rename");
  assert.deepEqual(statuses(renamed), ["303"]);
  assert.equal(renamed.getChild("x", MUC_USER)?.getChild("item")?.attrs.nick, "Fiona");
  await una.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Fiona` && s.attrs.type === undefined, "Fiona entering");

  await una.send(xml("presence", { to: `${room}/Unity` }));
  const own = await una.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Una` && s.attrs.type === "unavailable", "Una's own nick change");
  assert.deepEqual(statuses(own).sort(), ["110", "303"]);
  await vic.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Unity` && s.attrs.type === undefined, "Unity, for Vic");
  await eventually(() => owner.memberNamed(roomId, "Unity"), "Una's ghost renamed on Matrix");

  const vicsGhost = await eventually(() => owner.memberNamed(roomId, "Vic"), "Vic's ghost");
  await owner.request("POST", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/kick`, { user_id: vicsGhost, reason: "enough" });
  const kicked = await vic.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Vic` && s.attrs.type === "unavailable", "Vic's kick");
  assert.deepEqual(statuses(kicked).sort(), ["110", "307"]);
  const seen = await una.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Vic` && s.attrs.type === "unavailable", "Vic's kick, for Una");
  assert.deepEqual(statuses(seen), ["307"]);
});

test("two resources of one XMPP user: one ghost; both get the room; the ghost leaves with the last", async () => {
  const { owner, roomId, alias } = await matrixRoom("Gil");
  const room = gatewayJid(alias);
  const name = uniqueName("hal");
  const [phone, laptop] = [await XmppTestClient.login(name, undefined, undefined, "phone"), await XmppTestClient.login(name, undefined, undefined, "laptop")];
  suite.xmppClients.push(phone, laptop);
  await enter(phone, room, "Hal", { maxstanzas: "0" });
  await enter(laptop, room, "Hal", { maxstanzas: "0" });
  await owner.sendText(roomId, "to both");
  await phone.waitFor((s) => s.is("message") && bodyOf(s) === "to both", "the message on one resource");
  await laptop.waitFor((s) => s.is("message") && bodyOf(s) === "to both", "and on the other");
  const ghost = await eventually(() => owner.memberNamed(roomId, "Hal"), "Hal's ghost");
  await phone.send(xml("presence", { to: `${room}/Hal`, type: "unavailable" }));
  await phone.waitFor((s) => s.is("presence") && s.attrs.type === "unavailable" && s.attrs.from === `${room}/Hal`, "the phone out");
  assert.equal((await owner.members(roomId)).get(ghost), "join", "the ghost stays while a resource is in");
  await laptop.send(xml("presence", { to: `${room}/Hal`, type: "unavailable" }));
  await eventually(async () => ((await owner.members(roomId)).get(ghost) === "leave" ? true : undefined), "the ghost left with the last resource");
});

test("edits, replies, reactions and retractions both ways, by the room's stanza-ids", async () => {
  const { owner, roomId, alias } = await matrixRoom("Ida");
  const room = gatewayJid(alias);
  const jo = await loginXmpp("jo");
  await enter(jo, room, "Jo", { maxstanzas: "0" });
  const NS = { correct: "urn:xmpp:message-correct:0", reply: "urn:xmpp:reply:0", reactions: "urn:xmpp:reactions:0", retract: "urn:xmpp:message-retract:1" };

  await jo.send(xml("message", { to: room, type: "groupchat", id: "j1" }, xml("body", {}, "helo")));
  const jos = await owner.waitForEvent((e) => e.room_id === roomId && e.content.body === "helo", "Jo's message");
  await jo.waitFor((s) => s.attrs.id === "j1" && stanzaIdOf(s, room) !== undefined, "its reflection");
  await jo.send(xml("message", { to: room, type: "groupchat", id: "j2" }, xml("body", {}, "hello"), xml("replace", { xmlns: NS.correct, id: "j1" })));
  const edit = await owner.waitForEvent((e) => e.room_id === roomId && e.content["m.relates_to"]?.rel_type === "m.replace", "Jo's correction");
  assert.equal(edit.content["m.relates_to"].event_id, jos.event_id);

  const idas = await owner.sendText(roomId, "a question");
  const question = await jo.waitFor((s) => s.is("message") && bodyOf(s) === "a question", "Ida's question");
  const questionId = stanzaIdOf(question, room)!;
  await owner.send(roomId, { msgtype: "m.text", body: "* a better question", "m.new_content": { msgtype: "m.text", body: "a better question" }, "m.relates_to": { rel_type: "m.replace", event_id: idas } });
  const corrected = await jo.waitFor((s) => s.attrs.from === `${room}/Ida` && s.getChild("replace", NS.correct) !== undefined, "Ida's correction");
  assert.equal(corrected.getChild("replace", NS.correct)?.attrs.id, questionId);

  await jo.send(xml("message", { to: room, type: "groupchat", id: "j3" }, xml("body", {}, "an answer"), xml("reply", { xmlns: NS.reply, id: questionId })));
  const reply = await owner.waitForEvent((e) => e.room_id === roomId && e.content.body === "an answer", "Jo's reply");
  assert.equal(reply.content["m.relates_to"]?.["m.in_reply_to"]?.event_id, idas);

  await jo.send(xml("message", { to: room, type: "groupchat", id: "j4" }, xml("reactions", { xmlns: NS.reactions, id: questionId }, xml("reaction", {}, "👍"))));
  const reaction = await owner.waitForEvent((e) => e.room_id === roomId && e.type === "m.reaction", "Jo's reaction");
  assert.deepEqual(reaction.content["m.relates_to"], { rel_type: "m.annotation", event_id: idas, key: "👍" });

  const answered = await jo.waitFor((s) => s.attrs.id === "j3" && stanzaIdOf(s, room) !== undefined, "the reflected answer");
  await owner.send(roomId, { "m.relates_to": { rel_type: "m.annotation", event_id: reply.event_id, key: "🎉" } }, "m.reaction");
  const reacted = await jo.waitFor((s) => s.attrs.from === `${room}/Ida` && s.getChild("reactions", NS.reactions) !== undefined, "Ida's reaction");
  assert.equal(reacted.getChild("reactions", NS.reactions)?.attrs.id, stanzaIdOf(answered, room));

  await owner.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/redact/${encodeURIComponent(idas)}/r${Date.now()}`, {});
  const retracted = await jo.waitFor((s) => s.attrs.from === `${room}/Ida` && s.getChild("retract", NS.retract) !== undefined, "the retraction of Ida's question");
  assert.equal(retracted.getChild("retract", NS.retract)?.attrs.id, questionId);
  await jo.send(xml("message", { to: room, type: "groupchat", id: "j5" }, xml("body", {}, "/me retracted"), xml("retract", { xmlns: NS.retract, id: "j3" })));
  await owner.waitForEvent((e) => e.room_id === roomId && e.type === "m.room.redaction" && e.redacts === reply.event_id, "Jo's retraction");
});

test("a Matrix user invites an XMPP user into an invite-only room: XEP-0249 and a mediated invitation, and the room lets them in", async () => {
  const owner = await MatrixTestClient.register(uniqueName("kim"));
  const lou = await loginXmpp("lou");
  const ghost = `@_xmpp_${lou.jid.replace("@", "=40")}:${stack.matrixDomain}`;
  const roomId = await owner.createRoom({ preset: "private_chat", topic: "Private", invite: [ghost] });
  const room = gatewayJid(roomId);
  const direct = await lou.waitFor((s) => s.is("message") && s.getChild("x", "jabber:x:conference") !== undefined, "the direct invitation");
  assert.equal(direct.getChild("x", "jabber:x:conference")?.attrs.jid, room);
  assert.equal(String(direct.attrs.from).split("/")[0], `${owner.userId.slice(1).replace(":", "%")}@${stack.componentDomain}`);
  const mediated = await lou.waitFor((s) => s.is("message") && s.attrs.from === room && s.getChild("x", MUC_USER)?.getChild("invite") !== undefined, "the mediated invitation");
  assert.ok(mediated);
  const got = await enter(lou, room, "Lou", { maxstanzas: "0" });
  assert.ok(got.some((s) => s.is("presence") && statuses(s).includes("110")), "Lou is in");

  await owner.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.topic/`, { topic: "Still private" });
  const subject = await lou.waitFor((s) => s.is("message") && s.getChildText("subject") === "Still private", "the new subject");
  assert.match(String(subject.attrs.from), new RegExp(`^${room.replace(/[.^$!%]/g, "\\$&")}/`));
});

test("disco: a gateway room is a conference; the component lists the homeserver's public rooms, page by page", async () => {
  const { alias } = await matrixRoom("Max");
  const nia = await loginXmpp("nia");
  const info = await nia.iq(xml("iq", { type: "get", to: gatewayJid(alias) }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })));
  const identity = info.getChild("query")?.getChild("identity")?.attrs;
  assert.equal(identity?.category, "conference");
  const features = (info.getChild("query")?.getChildren("feature") ?? []).map((f) => String(f.attrs.var));
  for (const feature of [MUC, "urn:xmpp:mam:2", "muc_public", "muc_open"]) assert.ok(features.includes(feature), feature);
  const roominfo = info.getChild("query")?.getChild("x", "jabber:x:data")?.getChildren("field") ?? [];
  const value = (name: string) => roominfo.find((f) => f.attrs.var === name)?.getChildText("value");
  assert.equal(value("muc#roominfo_description"), "Welcome, XMPP users");
  assert.equal(value("muc#roominfo_occupants"), "1");
  const service = await nia.iq(xml("iq", { type: "get", to: stack.componentDomain }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })));
  assert.ok(service.getChild("query")?.getChildren("identity").some((i) => i.attrs.category === "conference"), "the component is a MUC service too");

  const seen: string[] = [];
  let after: string | undefined;
  for (let page = 0; page < 50; page++) {
    const set = xml("set", { xmlns: "http://jabber.org/protocol/rsm" }, xml("max", {}, "2"), after ? xml("after", {}, after) : undefined);
    const items = await nia.iq(xml("iq", { type: "get", to: stack.componentDomain }, xml("query", { xmlns: "http://jabber.org/protocol/disco#items" }, set)));
    const query = items.getChild("query");
    seen.push(...(query?.getChildren("item") ?? []).map((i) => String(i.attrs.jid)));
    after = query?.getChild("set", "http://jabber.org/protocol/rsm")?.getChildText("last") ?? undefined;
    if (!after || seen.includes(gatewayJid(alias))) break;
  }
  assert.ok(seen.includes(gatewayJid(alias)), "the public room is listed");
});

test("self-ping (XEP-0410): an occupant is told it is in; after leaving, that it is not", async () => {
  const { alias } = await matrixRoom("Ned");
  const room = gatewayJid(alias);
  const ola = await loginXmpp("ola");
  await enter(ola, room, "Ola", { maxstanzas: "0" });
  const ping = () => ola.iq(xml("iq", { type: "get", to: `${room}/Ola` }, xml("ping", { xmlns: "urn:xmpp:ping" })));
  assert.equal((await ping()).attrs.type, "result");
  await ola.send(xml("presence", { to: `${room}/Ola`, type: "unavailable" }));
  await ola.waitFor((s) => s.is("presence") && s.attrs.type === "unavailable" && s.attrs.from === `${room}/Ola`, "Ola out");
  await assert.rejects(ping(), (err: Error & { condition?: string }) => err.condition === "not-acceptable");
});

test("an XMPP moderator's kick is carried out on Matrix by their ghost when its power level allows, else refused", async () => {
  const { owner, roomId, room, occupants: [quin, rex] } = await roomWithTwo("Pia", "Quin", "Rex");
  const sam = await MatrixTestClient.register(uniqueName("sam"));
  await sam.request("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(sam.userId)}/displayname`, { displayname: "Sam" });
  await sam.join(roomId);
  await quin.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Sam`, "Sam, for Quin");
  const kick = (who: XmppTestClient, nick: string) =>
    who.iq(xml("iq", { type: "set", to: room }, xml("query", { xmlns: "http://jabber.org/protocol/muc#admin" }, xml("item", { nick, role: "none" }, xml("reason", {}, "off topic")))));

  await assert.rejects(kick(rex, "Sam"), (err: Error & { condition?: string }) => err.condition === "forbidden");
  const quinsGhost = await eventually(() => owner.memberNamed(roomId, "Quin"), "Quin's ghost");
  const levels = await owner.request<Record<string, any>>("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.power_levels/`);
  await owner.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.power_levels/`, { ...levels, users: { ...levels.users, [quinsGhost]: 50 } });
  const promoted = await rex.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Quin` && s.getChild("x", MUC_USER)?.getChild("item")?.attrs.role === "moderator", "Quin made moderator, for Rex");
  assert.equal(promoted.getChild("x", MUC_USER)?.getChild("item")?.attrs.affiliation, "admin");
  const own = await quin.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Quin` && s.getChild("x", MUC_USER)?.getChild("item")?.attrs.role === "moderator", "Quin's own promotion");
  assert.deepEqual(statuses(own), ["110"]);
  await kick(quin, "Sam");
  const removed = await owner.waitForEvent((e) => e.room_id === roomId && e.type === "m.room.member" && e.state_key === sam.userId && e.content.membership === "leave", "Sam kicked");
  assert.equal(removed.sender, quinsGhost);
  assert.equal(removed.content.reason, "off topic");
  await rex.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Sam` && s.attrs.type === "unavailable", "Sam's kick, for Rex");
});

test("MAM (XEP-0313) on a gateway room: the archive from Matrix history, page by page with RSM", async () => {
  const { owner, roomId, alias } = await matrixRoom("Rae");
  for (const body of ["third", "fourth", "fifth"]) await owner.sendText(roomId, body);
  const room = gatewayJid(alias);
  const tom = await loginXmpp("tom");
  await enter(tom, room, "Tom", { maxstanzas: "0" });
  const MAM = "urn:xmpp:mam:2";
  const bodies: string[] = [];
  let before = "";
  for (let page = 0; page < 10; page++) {
    const queryid = `q${page}`;
    const set = xml("set", { xmlns: "http://jabber.org/protocol/rsm" }, xml("max", {}, "2"), xml("before", {}, before));
    const fin = await tom.iq(xml("iq", { type: "set", to: room }, xml("query", { xmlns: MAM, queryid }, set)));
    const results = tom.stanzas.filter((s) => s.getChild("result", MAM)?.attrs.queryid === queryid);
    const forwarded = results.map((r) => r.getChild("result", MAM)?.getChild("forwarded", "urn:xmpp:forward:0")?.getChild("message"));
    bodies.unshift(...forwarded.map((m) => String(m?.getChildText("body"))));
    assert.ok(forwarded.every((m) => m?.attrs.from === `${room}/Rae`));
    const done = fin.getChild("fin", MAM);
    before = done?.getChild("set", "http://jabber.org/protocol/rsm")?.getChildText("first") ?? "";
    if (done?.attrs.complete === "true" || !before) break;
  }
  assert.deepEqual(bodies, ["first", "second", "third", "fourth", "fifth"]);
});

test("a ban on Matrix is status 301 to the occupant, and keeps them out; rooms the config does not allow are refused", async () => {
  const { owner, roomId, room, occupant: vera, ghost } = await roomWithOne("Uma", "Vera");
  await owner.request("POST", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/ban`, { user_id: ghost, reason: "no" });
  const banned = await vera.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Vera` && s.attrs.type === "unavailable", "Vera's ban");
  assert.deepEqual(statuses(banned).sort(), ["110", "301"]);
  assert.equal(await refusedJoin(vera, room, "Vera2"), "forbidden");
  assert.equal(await refusedJoin(vera, gatewayJid("#elsewhere:other.example"), "Vera"), "not-allowed", "only the homeserver's own rooms by default");
});

test("a resource that bounces an error is taken out of the room", async () => {
  const { owner, roomId, room, occupant: xia, ghost } = await roomWithOne("Wes", "Xia");
  await xia.send(xml("message", { to: room, type: "error", id: "gone" }, xml("error", { type: "cancel" }, xml("recipient-unavailable", { xmlns: STANZAS }))));
  await eventually(async () => ((await owner.members(roomId)).get(ghost) === "leave" ? true : undefined), "the ghost out of the Matrix room");
});
