import { describe, it } from "node:test";
import assert from "node:assert/strict";
import xml from "@xmpp/xml";
import { ContactPresences, fromMatrixPresence, fromXmppPresence, parsePriority, toMatrixPresence, toXmppPresence, type UserPresence } from "../../src/core/presence.js";
import { parseContactPresence, renderPuppetPresence, subscriptionType } from "../../src/xmpp/presence-stanzas.js";

describe("presence between XMPP and the model", () => {
  it("reads show and status, with a missing or unknown show as plainly available", () => {
    assert.deepEqual(fromXmppPresence({ unavailable: false }), { availability: "online" });
    assert.deepEqual(fromXmppPresence({ unavailable: false, show: "away", status: "At lunch" }), { availability: "away", status: "At lunch" });
    for (const show of ["chat", "dnd", "xa"] as const) assert.deepEqual(fromXmppPresence({ unavailable: false, show }), { availability: show });
    assert.deepEqual(fromXmppPresence({ unavailable: false, show: "sleeping" }), { availability: "online" });
    assert.deepEqual(fromXmppPresence({ unavailable: true, show: "away", status: "Gone home" }), { availability: "offline", status: "Gone home" });
    assert.deepEqual(fromXmppPresence({ unavailable: false, status: "  " }), { availability: "online" });
  });
  it("renders every availability back as XMPP says it", () => {
    assert.deepEqual(toXmppPresence({ availability: "online" }), { unavailable: false });
    assert.deepEqual(toXmppPresence({ availability: "chat" }), { unavailable: false, show: "chat" });
    assert.deepEqual(toXmppPresence({ availability: "away", status: "brb" }), { unavailable: false, show: "away", status: "brb" });
    assert.deepEqual(toXmppPresence({ availability: "offline", status: "bye" }), { unavailable: true, status: "bye" });
  });
  it("reads priorities within -128..127 and takes anything else for 0", () => {
    assert.equal(parsePriority("5"), 5);
    assert.equal(parsePriority(" -128 "), -128);
    for (const text of [null, undefined, "", "128", "1.5", "high"]) assert.equal(parsePriority(text), 0);
  });
});

describe("presence between Matrix and the model", () => {
  it("maps the three Matrix states and MSC3026 busy, keeping the status message", () => {
    assert.deepEqual(fromMatrixPresence({ presence: "online", last_active_ago: 5, currently_active: true }), { availability: "online" });
    assert.deepEqual(fromMatrixPresence({ presence: "unavailable", status_msg: "At lunch" }), { availability: "away", status: "At lunch" });
    assert.deepEqual(fromMatrixPresence({ presence: "offline" }), { availability: "offline" });
    assert.deepEqual(fromMatrixPresence({ presence: "org.matrix.msc3026.busy", status_msg: "in a call" }), { availability: "dnd", status: "in a call" });
  });
  it("ignores malformed content", () => {
    for (const content of [undefined, null, "online", {}, { presence: "asleep" }, { presence: 3 }]) assert.equal(fromMatrixPresence(content), undefined);
    assert.deepEqual(fromMatrixPresence({ presence: "online", status_msg: 42 }), { availability: "online" });
  });
  it("folds XMPP's states into online, unavailable and offline, which every homeserver accepts", () => {
    assert.deepEqual(toMatrixPresence({ availability: "chat" }), { presence: "online" });
    assert.deepEqual(toMatrixPresence({ availability: "online", status: "here" }), { presence: "online", status_msg: "here" });
    for (const availability of ["dnd", "away", "xa"] as const) assert.deepEqual(toMatrixPresence({ availability, status: "s" }), { presence: "unavailable", status_msg: "s" });
    assert.deepEqual(toMatrixPresence({ availability: "offline" }), { presence: "offline" });
  });
});

describe("several resources of one XMPP user", () => {
  const away: UserPresence = { availability: "away", status: "phone in pocket" };
  const online: UserPresence = { availability: "online" };

  it("reports a change only when the user's standing presence changes", () => {
    const contacts = new ContactPresences(10);
    assert.deepEqual(contacts.update("u", "laptop", online), online);
    assert.equal(contacts.update("u", "laptop", online), undefined, "the same presence again, as every puppet receives it");
    assert.equal(contacts.update("u", "phone", away), undefined, "a less available resource does not stand for the user");
    assert.deepEqual(contacts.update("u", "laptop", { availability: "offline" }), away, "the phone stands in once the laptop leaves");
    assert.deepEqual(contacts.update("u", "phone", { availability: "offline", status: "Gone home" }), { availability: "offline", status: "Gone home" });
  });
  it("ranks by priority first, then availability (dnd above away), then the latest", () => {
    const contacts = new ContactPresences(10);
    contacts.update("u", "desk", online, -1);
    assert.deepEqual(contacts.update("u", "phone", away, 5), away, "a higher priority wins over a more available resource");
    assert.deepEqual(contacts.update("u", "tablet", { availability: "dnd" }, 5), { availability: "dnd" });
    assert.deepEqual(contacts.update("u", "watch", { availability: "dnd", status: "meeting" }, 5), { availability: "dnd", status: "meeting" }, "the latest among equals");
  });
  it("takes unavailable presence from the bare JID as all resources leaving", () => {
    const contacts = new ContactPresences(10);
    contacts.update("u", "a", online);
    contacts.update("u", "b", away);
    assert.deepEqual(contacts.update("u", undefined, { availability: "offline" }), { availability: "offline" });
    assert.deepEqual([...contacts.available()], []);
  });
  it("forgets the users heard from least recently beyond its bound", () => {
    const contacts = new ContactPresences(2);
    contacts.update("a", "r", online);
    contacts.update("b", "r", online);
    contacts.update("a", "r", away);
    contacts.update("c", "r", online);
    assert.deepEqual(
      [...contacts.available()].map(([user]) => user),
      ["a", "c"],
    );
    assert.deepEqual(contacts.update("b", "r", online), online, "b was forgotten, so its presence is news again");
  });
});

describe("presence stanzas", () => {
  const presence = (attrs: Record<string, string>, ...children: ReturnType<typeof xml>[]) => xml("presence", { to: "p@c", ...attrs }, ...children);

  it("parses an XMPP user's availability, with the status without xml:lang", () => {
    const parsed = parseContactPresence(
      presence({ from: "Ann@Example.org/phone" }, xml("show", {}, "xa"), xml("status", { "xml:lang": "de" }, "weg"), xml("status", {}, "away"), xml("priority", {}, "3")),
    );
    assert.deepEqual(parsed, { from: { bare: "ann@example.org", resource: "phone" }, presence: { availability: "xa", status: "away" }, priority: 3 });
    assert.deepEqual(parseContactPresence(presence({ from: "ann@example.org/phone", type: "unavailable" }))?.presence, { availability: "offline" });
  });
  it("leaves MUC occupant presence, errors and subscriptions to others", () => {
    assert.equal(parseContactPresence(presence({ from: "room@muc/nick" }, xml("x", { xmlns: "http://jabber.org/protocol/muc#user" }))), undefined);
    assert.equal(parseContactPresence(presence({ from: "ann@example.org", type: "error" })), undefined);
    assert.equal(parseContactPresence(presence({ from: "ann@example.org", type: "subscribe" })), undefined);
    assert.equal(parseContactPresence(presence({})), undefined);
    assert.equal(subscriptionType(presence({ from: "ann@example.org", type: "probe" })), "probe");
    assert.equal(subscriptionType(presence({ from: "ann@example.org", type: "unavailable" })), undefined);
    assert.equal(subscriptionType(presence({ from: "ann@example.org", type: "bogus" })), undefined);
  });
  it("renders a puppet's presence, with the XEP-0153 avatar hash when given", () => {
    assert.equal(renderPuppetPresence("p@c/matrix", "ann@example.org", { availability: "online" }).toString(), '<presence from="p@c/matrix" to="ann@example.org"/>');
    assert.equal(
      renderPuppetPresence("p@c/matrix", "ann@example.org", { availability: "away", status: "At lunch" }, { avatarHash: "abc" }).toString(),
      '<presence from="p@c/matrix" to="ann@example.org"><show>away</show><status>At lunch</status><x xmlns="vcard-temp:x:update"><photo>abc</photo></x></presence>',
    );
    assert.equal(renderPuppetPresence("p@c/matrix", "ann@example.org", { availability: "offline" }).toString(), '<presence from="p@c/matrix" to="ann@example.org" type="unavailable"/>');
  });
});
