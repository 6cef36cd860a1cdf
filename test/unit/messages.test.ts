import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { fromMatrixContent, splitText, toMatrixContent, toXmppBody } from "../../src/core/messages.js";

describe("messages between Matrix content and the core model", () => {
  it("maps text and emotes both ways", () => {
    assert.deepEqual(toMatrixContent({ body: "hi" }), { msgtype: "m.text", body: "hi" });
    assert.deepEqual(toMatrixContent({ body: "waves", emote: true }), { msgtype: "m.emote", body: "waves" });
    assert.deepEqual(fromMatrixContent({ msgtype: "m.emote", body: "waves" }), { body: "waves", emote: true });
    assert.equal(toXmppBody({ body: "waves", emote: true }), "/me waves");
    assert.equal(toXmppBody({ body: "plain" }), "plain");
  });
  it("ignores content with no text and hostile shapes", () => {
    assert.equal(fromMatrixContent(undefined), undefined);
    assert.equal(fromMatrixContent({ msgtype: "m.text" }), undefined);
    assert.equal(fromMatrixContent({ msgtype: "m.text", body: 42 }), undefined);
    assert.equal(fromMatrixContent({ msgtype: "m.text", body: "   " }), undefined);
  });
  it("keeps the body of unknown message types as their fallback", () => {
    assert.deepEqual(fromMatrixContent({ msgtype: "org.example.poll", body: "Poll: yes or no?" }), { body: "Poll: yes or no?" });
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
