import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { fromMatrixContent, splitText, toMatrixContent, toXmppBody } from "../../src/core/messages.js";

describe("messages between Matrix content and the core model", () => {
  it("maps text and emotes both ways", () => {
    assert.deepEqual(toMatrixContent({ body: "hi" }), { msgtype: "m.text", body: "hi", "m.mentions": {} });
    assert.deepEqual(toMatrixContent({ body: "waves", emote: true }), { msgtype: "m.emote", body: "waves", "m.mentions": {} });
    assert.deepEqual(fromMatrixContent({ msgtype: "m.emote", body: "waves" }), { body: "waves", emote: true });
    assert.equal(toXmppBody({ body: "waves", emote: true }), "/me waves");
    assert.equal(toXmppBody({ body: "plain" }), "plain");
  });
  it("ignores content with no text", () => {
    assert.equal(fromMatrixContent({ msgtype: "m.text", body: "   " }), undefined);
  });
  it("keeps the body of unknown message types as their fallback", () => {
    assert.deepEqual(fromMatrixContent({ msgtype: "org.example.poll", body: "Poll: yes or no?" }), { body: "Poll: yes or no?" });
  });
  it("takes the plain body where the HTML nests deeper than clients show (100)", () => {
    const nested = (depth: number) => `${"<b>".repeat(depth)}deep${"</b>".repeat(depth)}`;
    assert.deepEqual(fromMatrixContent({ msgtype: "m.text", body: "deep", html: nested(3000) }), { body: "deep" });
    assert.equal(fromMatrixContent({ msgtype: "m.text", body: "deep", html: nested(2) })?.html, "<b><b>deep</b></b>");
  });
});

describe("splitText", () => {
  const bytes = (s: string) => new TextEncoder().encode(s).length;
  it("leaves short text whole", () => assert.deepEqual(splitText("hello", 10), ["hello"]));
  it("prefers breaking at spaces", () => assert.deepEqual(splitText("aaaa bbbb cccc", 10), ["aaaa bbbb ", "cccc"]));
  it("never splits a surrogate pair", () => {
    for (const part of splitText("😀".repeat(10), 9)) assert.ok(!/[\ud800-\udbff]$/.test(part));
  });
  it("keeps every part within the limit and loses nothing (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 300 }), fc.integer({ min: 8, max: 64 }), (text, max) => {
        const parts = splitText(text, max);
        assert.equal(parts.join(""), text);
        for (const p of parts) assert.ok(bytes(p) <= max);
      }),
    );
  });
});

describe("formatting through the message model", () => {
  it("gives XMPP styled text for Matrix HTML, with no Matrix IDs", () => {
    const message = fromMatrixContent({
      msgtype: "m.text",
      body: "bold and Bob",
      html: '<b>bold</b> and <a href="https://matrix.to/#/@bob:matrix.test">Bob</a>',
    });
    assert.equal(message?.body, "*bold* and Bob");
  });
  it("gives Matrix HTML for styled XMPP text, and none for plain text", () => {
    const content = toMatrixContent({ body: "*bold* and _it_" });
    assert.equal(content.format, "org.matrix.custom.html");
    assert.equal(content.formatted_body, "<strong>bold</strong> and <em>it</em>");
    assert.equal(toMatrixContent({ body: "2*3*4" }).formatted_body, undefined);
  });
  it("sanitizes hostile Matrix HTML before anything reads it", () => {
    const message = fromMatrixContent({ msgtype: "m.text", body: "x", html: '<img src=x onerror="alert(1)"><script>alert(2)</script>hello' });
    assert.equal(message?.body, "hello");
  });
});
