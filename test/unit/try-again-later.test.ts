import { describe, it } from "node:test";
import assert from "node:assert/strict";
import xml from "@xmpp/xml";
import { tryAgainLater } from "../../src/xmpp/inbound.js";

const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

describe("a message the bridge cannot hold now", () => {
  it("is answered to its sender with an error of type wait, under its id", () => {
    const message = xml("message", { from: "bob@xmpp/phone", to: "alice%hs@bridge", type: "chat", id: "m1" }, xml("body", {}, "hi"));
    const answer = tryAgainLater(message);
    assert.equal(answer.name, "message");
    assert.deepEqual(answer.attrs, { from: "alice%hs@bridge", to: "bob@xmpp/phone", type: "error", id: "m1" });
    const error = answer.getChild("error");
    assert.equal(error?.attrs.type, "wait");
    assert.ok(error?.getChild("resource-constraint", STANZAS));
    assert.equal(answer.getChild("body"), undefined, "the message's content is not sent back");
  });
});
