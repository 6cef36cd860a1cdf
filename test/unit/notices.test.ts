import { test } from "node:test";
import assert from "node:assert/strict";
import * as notices from "../../src/core/notices.js";

test("a notice names what did not cross, where, and why", () => {
  assert.equal(
    notices.puppetCannotJoin("Alice", "room@conference.xmpp.test", "forbidden"),
    "Alice could not join room@conference.xmpp.test on XMPP (forbidden); their messages will not reach it.",
  );
  assert.equal(notices.removalRefused("Bob", "room@conference.xmpp.test", "ban", "not-allowed"), "Bob is still in room@conference.xmpp.test on XMPP: the MUC refused to ban them (not-allowed).");
  assert.equal(notices.fileNotDelivered(undefined, "too big"), "A file could not be delivered to XMPP: too big.");
  assert.equal(notices.fileNotDelivered("cat.png", "too big"), "cat.png could not be delivered to XMPP: too big.");
});

test("a MUC's refusal reads as words, not as its error condition, where users would not know the condition", () => {
  assert.equal(notices.mucRefused("r@c.test", "a message", "@a:hs", "forbidden"), "r@c.test on XMPP did not take a message from @a:hs: not allowed.");
  assert.equal(notices.mucRefused("r@c.test", "the new topic", undefined, undefined), "r@c.test on XMPP did not take the new topic from a Matrix user: refused.");
  assert.equal(notices.roomChangeRefused("name", "r@c.test", "forbidden"), "The room name did not change on XMPP: r@c.test refused it (only its owners may change it).");
  assert.equal(notices.roomChangeRefused("avatar", "r@c.test", "not-acceptable"), "The room avatar did not change on XMPP: r@c.test refused it (not-acceptable).");
});

test("a file that could not be bridged keeps its link, so it can be fetched by hand", () => {
  assert.equal(notices.fileNotBridged({ url: "https://x.test/a.pdf", name: "a.pdf" }, "too big"), "A file (a.pdf) could not be bridged: too big. Link: https://x.test/a.pdf");
  assert.equal(notices.fileNotBridged({ url: "https://x.test/a" }, "refused"), "A file could not be bridged: refused. Link: https://x.test/a");
});
