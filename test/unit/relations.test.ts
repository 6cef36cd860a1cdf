import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { editFallbackBody, quoteFallback, removeFallbackRanges } from "../../src/core/relations.js";

describe("reply quote fallback (XEP-0428)", () => {
  it("quotes the first line, cut at a word, with its length in code points", () => {
    const q = quoteFallback("first line\nsecond", "Bob");
    assert.equal(q.text, "> Bob: first line\n");
    assert.equal(q.length, [...q.text].length);
    const long = quoteFallback("word ".repeat(40));
    assert.ok(long.text.endsWith("…\n"));
    assert.ok([...long.text].length < 70);
  });
  it("counts emoji with skin tones and ZWJ sequences as code points", () => {
    const q = quoteFallback("👩🏽‍💻 at work");
    const body = `${q.text}reply`;
    assert.equal(removeFallbackRanges(body, [{ start: 0, end: q.length }]), "reply");
  });
  it("ignores nonsense ranges", () => {
    assert.equal(removeFallbackRanges("hello", [{ start: 3, end: 1 }, { start: -1, end: 2 }, { start: 1.5, end: 3 }]), "hello");
    assert.equal(removeFallbackRanges("hello", [{ start: 2, end: 99 }]), "he");
  });
  it("marks edits for clients without edit support", () => assert.equal(editFallbackBody("fixed"), "* fixed"));
});
