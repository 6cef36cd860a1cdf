import { describe, it } from "node:test";
import assert from "node:assert/strict";
import xml from "@xmpp/xml";
import { innerXml, mentionedAddresses, parseGroupMessage, parseRoomDestroyed } from "../../src/xmpp/stanzas.js";

const MUC_USER = "http://jabber.org/protocol/muc#user";

describe("hostile stanzas", () => {
  it("reads XHTML-IM nested far deeper than the call stack allows", () => {
    let inner = xml("em", {}, "deep");
    for (let i = 0; i < 20_000; i++) inner = xml("em", {}, inner);
    const body = xml("body", { xmlns: "http://www.w3.org/1999/xhtml" }, inner);
    const written = innerXml(body);
    assert.ok(written.startsWith("<em><em>") && written.includes("deep"));
    assert.equal(innerXml(xml("body", {}, "a < b & \"c\"", xml("a", { href: "x\"y" }))), 'a &lt; b &amp; "c"<a href="x&quot;y"></a>');
  });
  it("takes a mention whose URI is not valid percent-encoding for no mention", () => {
    const stanza = xml("message", {}, xml("reference", { xmlns: "urn:xmpp:reference:0", type: "mention", uri: "xmpp:%E0%A4%A" }), xml("reference", { xmlns: "urn:xmpp:reference:0", type: "mention", uri: "xmpp:r@c/n%20m" }));
    assert.deepEqual(mentionedAddresses(stanza), ["r@c/n m"]);
  });
  it("believes only the room's own delay in a MUC, and none later than now", () => {
    const at = (from: string, stamp: string) => parseGroupMessage(xml("message", { from: "r@c/n", type: "groupchat" }, xml("body", {}, "x"), xml("delay", { xmlns: "urn:xmpp:delay", from, stamp })))?.sentAt;
    assert.equal(at("r@c", "2020-01-01T00:00:00Z"), Date.parse("2020-01-01T00:00:00Z"));
    assert.equal(at("mallory@x", "2020-01-01T00:00:00Z"), undefined);
    assert.ok(at("r@c", "9999-12-31T00:00:00Z")! <= Date.now());
  });
  it("reads a MUC's destruction, with or without an alternate venue", () => {
    const destroyed = (...children: ReturnType<typeof xml>[]) => xml("presence", { from: "Room@c/nick", type: "unavailable" }, xml("x", { xmlns: MUC_USER }, xml("item", { role: "none" }), ...children));
    assert.deepEqual(parseRoomDestroyed(destroyed(xml("destroy", { jid: "New@c" }, xml("reason", {}, " Moving ")))), { muc: "room@c", alternate: "new@c", reason: "Moving" });
    assert.deepEqual(parseRoomDestroyed(destroyed(xml("destroy", {}))), { muc: "room@c" });
    assert.equal(parseRoomDestroyed(destroyed()), undefined);
  });
});
