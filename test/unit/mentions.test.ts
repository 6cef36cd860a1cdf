import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { findMentions, locateMentions, pillify } from "../../src/core/mentions.js";

const max = { name: "Max", matrixUser: "@max:matrix.test" };
const maxi = { name: "Max Power", matrixUser: "@mp:matrix.test" };

describe("mentions", () => {
  it("finds names as words of their own only", () => {
    assert.deepEqual(findMentions("Max: lunch?", [max]), [max]);
    assert.deepEqual(findMentions("ask Maxine", [max]), []);
    assert.deepEqual(findMentions("hi Max Power!", [max, maxi]), [maxi]);
    assert.deepEqual(findMentions("nobody", []), []);
  });
  it("makes pills, escaping everything else", () => {
    assert.equal(pillify("Max: <b>&</b>", [max]), '<a href="https://matrix.to/#/%40max%3Amatrix.test">Max</a>: &lt;b&gt;&amp;&lt;/b&gt;');
  });
  it("handles names with regex characters and emoji", () => {
    const odd = { name: "a.b (🦊)", matrixUser: "@fox:matrix.test" };
    assert.deepEqual(findMentions("hey a.b (🦊) there", [odd]), [odd]);
    assert.deepEqual(findMentions("hey aXb (🦊) there", [odd]), []);
  });
});

describe("locateMentions", () => {
  it("gives code-point ranges of whole-word names", () => {
    const max = { name: "Max", matrixUser: "@max:matrix.test" };
    assert.deepEqual(locateMentions("👩🏽‍💻 Maxine and Max", [max]), [{ mention: max, begin: 16, end: 19 }]);
  });
});
