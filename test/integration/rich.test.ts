import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { xml } from "@xmpp/client";
import { bodyOf, directChatScene, portalScene, stanzaIdOf } from "./scenes.js";
import { bridgeSuite, eventually, stack } from "./harness.js";

const suite = bridgeSuite();
const portal = (name: string) => portalScene(suite, name);

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
  const dm = await directChatScene(suite, { id: "d1", body: "helo zoe" });
  await dm.send("d2", xml("body", {}, "hello zoe"), xml("replace", { xmlns: "urn:xmpp:message-correct:0", id: "d1" }));
  const edit = await dm.fromXmpp((e) => e.content["m.new_content"]?.body === "hello zoe", "the edit");
  assert.equal(edit.content["m.relates_to"].event_id, dm.firstEvent.event_id);
});

test("reactions both ways in a MUC: XEP-0444 full sets against one m.reaction per emoji", async () => {
  const p = await portal("react");
  const said = await p.say("x1", "lunch at noon?");
  const saidEvent = (await p.fromXmpp((e) => e.content.body === "lunch at noon?", "the XMPP message")) as { event_id: string };
  const thumbs = await p.matrixUser.send(p.roomId, { "m.relates_to": { rel_type: "m.annotation", event_id: saidEvent.event_id, key: "👍🏽" } }, "m.reaction");
  await p.matrixUser.send(p.roomId, { "m.relates_to": { rel_type: "m.annotation", event_id: saidEvent.event_id, key: "👨‍👩‍👧" } }, "m.reaction");
  const full = await p.xmppUser.waitFor((s) => s.attrs.from === `${p.room}/Max` && (s.getChild("reactions", "urn:xmpp:reactions:0")?.getChildren("reaction").length ?? 0) === 2, "both reactions");
  assert.equal(full.getChild("reactions", "urn:xmpp:reactions:0")?.attrs.id, stanzaIdOf(said, p.room));
  await p.matrixUser.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(p.roomId)}/redact/${encodeURIComponent(thumbs)}/t${Date.now()}`, {});
  await p.xmppUser.waitFor((s) => {
    const r = s.getChild("reactions", "urn:xmpp:reactions:0");
    return s.attrs.from === `${p.room}/Max` && r !== undefined && r.getChildren("reaction").map((x) => x.getText()).join() === "👨‍👩‍👧";
  }, "the set without the removed emoji");

  const asked = await p.matrixUser.sendText(p.roomId, "cake?");
  const askedOnXmpp = await p.fromMatrix("cake?");
  const reactTo = (emojis: string[], id: string) =>
    p.xmppUser.send(xml("message", { to: p.room, type: "groupchat", id }, xml("reactions", { xmlns: "urn:xmpp:reactions:0", id: stanzaIdOf(askedOnXmpp, p.room) }, ...emojis.map((e) => xml("reaction", {}, e)))));
  await reactTo(["🎂", "❤️"], "x2");
  const cake = await p.fromXmpp((e) => e.type === "m.reaction" && e.content["m.relates_to"]?.key === "🎂", "the cake reaction");
  assert.equal(cake.content["m.relates_to"].event_id, asked);
  await p.fromXmpp((e) => e.type === "m.reaction" && e.content["m.relates_to"]?.key === "❤️", "the heart reaction");
  await reactTo(["❤️"], "x3");
  await p.fromXmpp((e) => e.type === "m.room.redaction" && e.redacts === (cake as { event_id: string }).event_id, "the cake reaction taken back");
});

test("typing and read markers in a direct chat, both ways", async () => {
  const dm = await directChatScene(suite, { id: "m1", body: "are you there?", extra: [xml("markable", { xmlns: "urn:xmpp:chat-markers:0" })] });
  const { xmppUser: ada, matrixUser: ben, puppet, roomId, firstEvent: first } = dm;

  await ben.request("POST", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/receipt/m.read/${encodeURIComponent(first.event_id)}`, {});
  const marker = await ada.waitFor((s) => !!s.getChild("displayed", "urn:xmpp:chat-markers:0"), "the displayed marker");
  assert.equal(marker.getChild("displayed", "urn:xmpp:chat-markers:0")?.attrs.id, "m1");

  await ben.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/typing/${encodeURIComponent(ben.userId)}`, { typing: true, timeout: 10000 });
  await ada.waitFor((s) => !!s.getChild("composing", "http://jabber.org/protocol/chatstates"), "composing on XMPP");

  await ada.send(xml("message", { to: puppet, type: "chat", id: "m2" }, xml("composing", { xmlns: "http://jabber.org/protocol/chatstates" })));
  const ghost = `@_xmpp_${ada.jid.replace("@", "=40")}:${stack.matrixDomain}`;
  await ben.waitForEphemeral((e) => e.type === "m.typing" && e.room_id === roomId && (e.content.user_ids as string[]).includes(ghost), "the ghost typing");

  const reply = await ben.sendText(roomId, "yes!");
  const got = await ada.waitFor((s) => bodyOf(s) === "yes!", "the reply");
  await ada.send(xml("message", { to: puppet, type: "chat", id: "m3" }, xml("displayed", { xmlns: "urn:xmpp:chat-markers:0", id: got.attrs.id })));
  await ben.waitForEphemeral((e) => e.type === "m.receipt" && e.room_id === roomId && e.content[reply]?.["m.read"]?.[ghost] !== undefined, "the ghost's read receipt");
});

test("a Matrix thread is an XEP-0201 thread on XMPP, and XMPP answers in it land in the thread", async () => {
  const p = await portal("threads");
  const root = await p.matrixUser.sendText(p.roomId, "thread root");
  const rootOnXmpp = await p.fromMatrix("thread root");
  await p.matrixUser.send(p.roomId, { msgtype: "m.text", body: "in the thread", "m.relates_to": { rel_type: "m.thread", event_id: root, is_falling_back: true, "m.in_reply_to": { event_id: root } } });
  const inThread = await p.fromMatrix("in the thread");
  const thread = inThread.getChildText("thread");
  assert.equal(thread, rootOnXmpp.getChild("origin-id", "urn:xmpp:sid:0")?.attrs.id);
  assert.equal(inThread.getChild("reply", "urn:xmpp:reply:0"), undefined, "a thread's fallback reply is no reply");

  await p.xmppUser.send(xml("message", { to: p.room, type: "groupchat", id: "th1" }, xml("body", {}, "answer in thread"), xml("thread", {}, thread!)));
  const answer = await p.fromXmpp((e) => e.content.body === "answer in thread", "the XMPP answer");
  assert.equal(answer.content["m.relates_to"]?.rel_type, "m.thread");
  assert.equal(answer.content["m.relates_to"]?.event_id, root);

  await p.xmppUser.send(xml("message", { to: p.room, type: "groupchat", id: "th2" }, xml("body", {}, "some client's own thread"), xml("thread", {}, "unrelated-thread-id")));
  const plain = await p.fromXmpp((e) => e.content.body === "some client's own thread", "a message in an XMPP-only thread");
  assert.equal(plain.content["m.relates_to"], undefined);
});

test("formatting both ways in a MUC: Matrix HTML as XEP-0393 styling, styling and XHTML-IM as sanitized HTML", async () => {
  const p = await portal("format");
  await p.matrixUser.send(p.roomId, {
    msgtype: "m.text",
    body: "bold, code and Xena",
    format: "org.matrix.custom.html",
    formatted_body: `<b>bold</b>, <code>code</code> and <a href="https://matrix.to/#/@someone:${stack.matrixDomain}">Xena</a><script>alert(1)</script>`,
  });
  await p.fromMatrix("*bold*, `code` and Xena");

  await p.say("f1", "*strong* and ~gone~");
  const styled = await p.fromXmpp((e) => e.content.body === "*strong* and ~gone~", "the styled message");
  assert.equal(styled.content.formatted_body, "<strong>strong</strong> and <del>gone</del>");

  await p.say(
    "f2",
    "plain fallback",
    xml("html", { xmlns: "http://jabber.org/protocol/xhtml-im" }, xml("body", { xmlns: "http://www.w3.org/1999/xhtml" }, xml("p", {}, xml("span", { style: "font-weight: bold" }, "rich"), " text"), xml("script", {}, "alert(1)"))),
  );
  const rich = await p.fromXmpp((e) => e.content.body === "plain fallback", "the XHTML-IM message");
  assert.match(rich.content.formatted_body, /<strong>rich<\/strong> text/);
  assert.doesNotMatch(rich.content.formatted_body, /script|alert/);
});

test("an XMPP message naming a Matrix user's nick mentions them: a pill and m.mentions", async () => {
  const p = await portal("mention");
  await p.say("n1", "Max: are you coming?");
  const mention = await p.fromXmpp((e) => e.content.body === "Max: are you coming?", "the mention");
  assert.deepEqual(mention.content["m.mentions"], { user_ids: [p.matrixUser.userId] });
  assert.equal(mention.content.formatted_body, `<a href="https://matrix.to/#/${encodeURIComponent(p.matrixUser.userId)}">Max</a>: are you coming?`);
  await p.say("n2", "Maxine is not Max's nick... wait, Max is");
  const plain = await p.fromXmpp((e) => e.content.body?.startsWith("Maxine"), "the second message");
  assert.deepEqual(plain.content["m.mentions"], { user_ids: [p.matrixUser.userId] });
});

test("in a direct chat too: formatting, replies, reactions and retractions both ways", async () => {
  const dm = await directChatScene(suite, { id: "k1", body: "*hello* lea" });
  const { xmppUser: kai, matrixUser: lea, puppet, roomId, firstEvent: hello, fromMatrix: fromLea, fromXmpp: fromKai } = dm;
  assert.equal(hello.content.formatted_body, "<strong>hello</strong> lea");

  const answer = await lea.send(roomId, { msgtype: "m.text", body: "hi", format: "org.matrix.custom.html", formatted_body: "<i>hi</i>", "m.relates_to": { "m.in_reply_to": { event_id: hello.event_id } } });
  const reply = await fromLea((s) => (bodyOf(s) ?? "").endsWith("_hi_"), "the styled reply");
  assert.equal(reply.getChild("reply", "urn:xmpp:reply:0")?.attrs.id, "k1", "DM references use the message id");

  await lea.send(roomId, { "m.relates_to": { rel_type: "m.annotation", event_id: hello.event_id, key: "🙂" } }, "m.reaction");
  const reacted = await fromLea((s) => !!s.getChild("reactions", "urn:xmpp:reactions:0"), "the reaction");
  assert.equal(reacted.getChild("reactions", "urn:xmpp:reactions:0")?.attrs.id, "k1");

  await kai.send(xml("message", { to: puppet, type: "chat", id: "k2" }, xml("reactions", { xmlns: "urn:xmpp:reactions:0", id: reply.attrs.id }, xml("reaction", {}, "🎉"))));
  const party = await fromKai((e) => e.type === "m.reaction" && e.content["m.relates_to"]?.key === "🎉", "kai's reaction");
  assert.equal(party.content["m.relates_to"].event_id, answer);

  await lea.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/redact/${encodeURIComponent(answer)}/t${Date.now()}`, {});
  const retraction = await fromLea((s) => !!s.getChild("retract", "urn:xmpp:message-retract:1"), "the retraction");
  assert.equal(retraction.getChild("retract", "urn:xmpp:message-retract:1")?.attrs.id, reply.attrs.id);

  await kai.send(xml("message", { to: puppet, type: "chat", id: "k3" }, xml("retract", { xmlns: "urn:xmpp:message-retract:1", id: "k1" }), xml("body", {}, "/me retracted a message")));
  await fromKai((e) => e.type === "m.room.redaction" && e.redacts === hello.event_id, "kai's retraction");
});

test("typing and read markers in a MUC", async () => {
  const p = await portal("marks");
  const said = await p.say("mk1", "read me");
  const event = (await p.fromXmpp((e) => e.content.body === "read me", "the message")) as { event_id: string };
  await p.matrixUser.request("POST", `/_matrix/client/v3/rooms/${encodeURIComponent(p.roomId)}/receipt/m.read/${encodeURIComponent(event.event_id)}`, {});
  const marker = await p.xmppUser.waitFor((s) => s.attrs.from === `${p.room}/Max` && !!s.getChild("displayed", "urn:xmpp:chat-markers:0"), "the marker in the MUC");
  assert.equal(marker.getChild("displayed", "urn:xmpp:chat-markers:0")?.attrs.id, stanzaIdOf(said, p.room));
  await p.matrixUser.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(p.roomId)}/typing/${encodeURIComponent(p.matrixUser.userId)}`, { typing: true, timeout: 10000 });
  await p.xmppUser.waitFor((s) => s.attrs.from === `${p.room}/Max` && !!s.getChild("composing", "http://jabber.org/protocol/chatstates"), "composing in the MUC");
});

// ejabberd 23.01 has no XEP-0425 (message moderation came in a later release): its MUC answers a moderation
// request with service-unavailable, so there is no removal to bridge.
test("a MUC moderator's removal of a message (XEP-0425) redacts it on Matrix", { skip: stack.xmppServer === "ejabberd" && "ejabberd 23.01 has no XEP-0425" }, async () => {
  const p = await portal("moderate");
  const sent = await p.matrixUser.sendText(p.roomId, "something regrettable");
  const onXmpp = await p.fromMatrix("something regrettable");
  // The room's creator owns it; Prosody's mod_muc_moderation speaks the older (fasten) form.
  await p.xmppUser.iq(
    xml(
      "iq",
      { type: "set", to: p.room, id: "mod1" },
      xml("apply-to", { xmlns: "urn:xmpp:fasten:0", id: stanzaIdOf(onXmpp, p.room) }, xml("moderate", { xmlns: "urn:xmpp:message-moderate:0" }, xml("retract", { xmlns: "urn:xmpp:message-retract:0" }), xml("reason", {}, "spam"))),
    ),
  );
  const redaction = await p.fromXmpp((e) => e.type === "m.room.redaction" && e.redacts === sent, "the redaction");
  assert.match(redaction.content.reason ?? "", /Removed on XMPP by xena: spam/);
});

test("a Matrix moderator's redaction of an XMPP message asks the MUC to remove it (XEP-0425)", async () => {
  const p = await portal("modback");
  // Max becomes a moderator on both sides: power level 50 in the portal (set as the bridge bot) and the MUC role.
  const registration = parseYaml(readFileSync(stack.registrationFile, "utf8")) as { as_token: string; sender_localpart: string };
  const asBot = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${stack.synapseUrl}${path}`, { method, headers: { authorization: `Bearer ${registration.as_token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    assert.ok(res.ok, `${method} ${path}: ${res.status}`);
    return res.json() as Promise<Record<string, any>>;
  };
  const levelsPath = `/_matrix/client/v3/rooms/${encodeURIComponent(p.roomId)}/state/m.room.power_levels/`;
  const levels = await asBot("GET", levelsPath);
  await asBot("PUT", levelsPath, { ...levels, users: { ...levels.users, [p.matrixUser.userId]: 50 } });
  await p.xmppUser.iq(xml("iq", { type: "set", to: p.room, id: "role1" }, xml("query", { xmlns: "http://jabber.org/protocol/muc#admin" }, xml("item", { nick: "Max", role: "moderator" }))));

  const said = await p.say("mb1", "please remove this");
  const event = (await p.fromXmpp((e) => e.content.body === "please remove this", "the XMPP message")) as { event_id: string };
  await p.matrixUser.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(p.roomId)}/redact/${encodeURIComponent(event.event_id)}/t${Date.now()}`, { reason: "off topic" });
  if (stack.xmppServer === "ejabberd") {
    // ejabberd 23.01 has no XEP-0425 and refuses both forms of the request: the Matrix moderator is told so.
    await p.fromXmpp((e) => e.content.msgtype === "m.notice" && /still there on XMPP.*refused to remove it \(service-unavailable\)/.test(String(e.content.body)), "the notice of the refusal");
    return;
  }
  const announcement = await p.xmppUser.waitFor(
    (s) => s.attrs.from === p.room && (s.getChild("apply-to", "urn:xmpp:fasten:0")?.attrs.id === stanzaIdOf(said, p.room) || s.getChild("retract", "urn:xmpp:message-retract:1")?.attrs.id === stanzaIdOf(said, p.room)),
    "the MUC's moderation announcement",
  );
  assert.match(announcement.toString(), /off topic/);
});

test("mentions as XEP-0372 references: read from XMPP, written for Matrix mentions of occupants", async () => {
  const p = await portal("refs");
  await p.say("ref1", "hey you", xml("reference", { xmlns: "urn:xmpp:reference:0", type: "mention", begin: "4", end: "7", uri: `xmpp:${p.room}/Max` }));
  const mention = await p.fromXmpp((e) => e.content.body === "hey you", "the referenced mention");
  assert.deepEqual(mention.content["m.mentions"], { user_ids: [p.matrixUser.userId] });

  const xena = await eventually(() => p.matrixUser.memberNamed(p.roomId, "xena"), "xena's ghost");
  await p.matrixUser.send(p.roomId, {
    msgtype: "m.text",
    body: "xena: look",
    format: "org.matrix.custom.html",
    formatted_body: `<a href="https://matrix.to/#/${xena}">xena</a>: look`,
    "m.mentions": { user_ids: [xena] },
  });
  const out = await p.fromMatrix("xena: look");
  const reference = out.getChild("reference", "urn:xmpp:reference:0");
  assert.deepEqual(reference?.attrs, { xmlns: "urn:xmpp:reference:0", type: "mention", begin: "0", end: "4", uri: `xmpp:${p.room}/xena` });
});

test("a client that does not show reactions gets them as text, without Matrix IDs", async () => {
  const dm = await directChatScene(suite, { id: "o1", body: "shall we meet at the station tomorrow morning, around nine?" }, ["http://jabber.org/protocol/disco#info"]);
  await dm.matrixUser.send(dm.roomId, { "m.relates_to": { rel_type: "m.annotation", event_id: dm.firstEvent.event_id, key: "👍" } }, "m.reaction");
  const text = await dm.fromMatrix((s) => (bodyOf(s) ?? "").startsWith("/me reacted"), "the reaction as text");
  assert.equal(text.getChild("reactions", "urn:xmpp:reactions:0"), undefined);
  assert.equal(bodyOf(text), '/me reacted 👍 to "shall we meet at the station tomorrow morning, around nine?"');
});

test("the remaining directions: DM edits from Matrix, DM replies from XMPP, DM threads, MUC typing and markers from XMPP", async () => {
  const dm = await directChatScene(suite, { id: "q1", body: "hi pia" });
  const { xmppUser: oli, matrixUser: pia, puppet, roomId, fromMatrix: fromPia } = dm;

  const typo = await pia.sendText(roomId, "helo oli");
  const sent = await fromPia((s) => bodyOf(s) === "helo oli", "the message");
  await pia.send(roomId, { msgtype: "m.text", body: "* hello oli", "m.new_content": { msgtype: "m.text", body: "hello oli" }, "m.relates_to": { rel_type: "m.replace", event_id: typo } });
  const fixed = await fromPia((s) => bodyOf(s) === "hello oli", "the DM correction");
  assert.equal(fixed.getChild("replace", "urn:xmpp:message-correct:0")?.attrs.id, sent.attrs.id);

  await oli.send(
    xml("message", { to: puppet, type: "chat", id: "q2" }, xml("body", {}, "> hello oli\nthanks"), xml("reply", { xmlns: "urn:xmpp:reply:0", id: sent.attrs.id }), xml("fallback", { xmlns: "urn:xmpp:fallback:0", for: "urn:xmpp:reply:0" }, xml("body", { start: "0", end: "12" }))),
  );
  const reply = await pia.waitForEvent((e) => e.content.body === "thanks", "the DM reply");
  assert.equal(reply.content["m.relates_to"]?.["m.in_reply_to"]?.event_id, typo);

  await pia.send(roomId, { msgtype: "m.text", body: "a DM thread", "m.relates_to": { rel_type: "m.thread", event_id: typo, is_falling_back: true, "m.in_reply_to": { event_id: typo } } });
  const threaded = await fromPia((s) => bodyOf(s) === "a DM thread", "the DM thread message");
  await oli.send(xml("message", { to: puppet, type: "chat", id: "q3" }, xml("body", {}, "answer in the DM thread"), xml("thread", {}, threaded.getChildText("thread")!)));
  const inThread = await pia.waitForEvent((e) => e.content.body === "answer in the DM thread", "the XMPP answer in the thread");
  assert.equal(inThread.content["m.relates_to"]?.rel_type, "m.thread");

  const p = await portal("signals");
  const said = await p.matrixUser.sendText(p.roomId, "mark me read");
  const onXmpp = await p.fromMatrix("mark me read");
  await p.xmppUser.send(xml("message", { to: p.room, type: "groupchat", id: "s1" }, xml("displayed", { xmlns: "urn:xmpp:chat-markers:0", id: stanzaIdOf(onXmpp, p.room) })));
  const ghost = await eventually(() => p.matrixUser.memberNamed(p.roomId, "xena"), "xena's ghost");
  await p.matrixUser.waitForEphemeral((e) => e.type === "m.receipt" && e.room_id === p.roomId && e.content[said]?.["m.read"]?.[ghost] !== undefined, "xena's receipt");
  await p.xmppUser.send(xml("message", { to: p.room, type: "groupchat", id: "s2" }, xml("composing", { xmlns: "http://jabber.org/protocol/chatstates" })));
  await p.matrixUser.waitForEphemeral((e) => e.type === "m.typing" && e.room_id === p.roomId && (e.content.user_ids as string[]).includes(ghost), "xena typing");
});
