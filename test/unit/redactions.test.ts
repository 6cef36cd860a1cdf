import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Redactions } from "../../src/pipeline/capabilities/redactions.js";
import { alice, bobsGhost, capabilityDeps, dm, dmRoom, fromMuc, muc, portalRoom } from "../fakes/capability-deps.js";

const occupantGhost = "@_xmpp_room=40conference.xmpp.test=2fcarol:matrix.test";
const refusal = (condition: string) => async () => {
  throw Object.assign(new Error(condition), { condition });
};

describe("redactions, Matrix to XMPP", () => {
  it("retracts the sender's own message (XEP-0424), by the id XMPP knows it by", async () => {
    const { deps, store, stanzas, at } = await capabilityDeps();
    await store.recordMessage({ roomId: dmRoom, eventId: "$fromAlice", conversation: dm, ids: { id: "a1", originId: "a1" }, sender: alice });
    await new Redactions(deps).fromMatrix({ kind: "redaction", roomId: dmRoom, sender: alice, eventId: "$red", redacts: "$fromAlice" }, at(dmRoom));
    assert.equal(stanzas[0]?.getChild("retract", "urn:xmpp:message-retract:1")?.attrs.id, "a1");
    assert.equal(stanzas[0]?.getChildText("body"), "/me retracted a message");
  });
  it("leaves alone what is not the sender's bridged message", async () => {
    const { deps, store, stanzas, at } = await capabilityDeps();
    await store.recordMessage({ roomId: dmRoom, eventId: "$fromBob", conversation: dm, ids: { id: "b1" }, sender: bobsGhost });
    const redactions = new Redactions(deps);
    await redactions.fromMatrix({ kind: "redaction", roomId: dmRoom, sender: alice, eventId: "$red", redacts: "$fromBob" }, at(dmRoom));
    await redactions.fromMatrix({ kind: "redaction", roomId: dmRoom, sender: alice, eventId: "$red2", redacts: "$unknown" }, at(dmRoom));
    assert.equal(stanzas.length, 0);
  });
  it("asks the MUC to moderate an XMPP user's message a Matrix moderator removed, and tells the room when it refuses", async () => {
    const { deps, store, stanzas, matrix, at } = await capabilityDeps({ inMuc: [alice], answer: refusal("forbidden") });
    await store.recordMessage({ roomId: portalRoom, eventId: "$fromCarol", conversation: muc, ids: { id: "c1", stanzaId: "s1" }, sender: occupantGhost });
    await new Redactions(deps).fromMatrix({ kind: "redaction", roomId: portalRoom, sender: alice, eventId: "$red", redacts: "$fromCarol", reason: "spam" }, at(portalRoom));
    assert.equal(stanzas[0]?.getChild("moderate", "urn:xmpp:message-moderate:1")?.attrs.id, "s1");
    assert.equal(stanzas[0]?.getChild("moderate", "urn:xmpp:message-moderate:1")?.getChildText("reason"), "spam");
    assert.equal(stanzas.length, 1, "a refusal other than not-implemented is not asked again in the older form");
    assert.deepEqual(matrix.notices, [`The message is still there on XMPP: ${muc} refused to remove it (forbidden).`]);
  });
});

describe("redactions, XMPP to Matrix", () => {
  it("redacts a retracted message as its ghost, and nothing for a message the bridge does not know", async () => {
    const { deps, store, matrix } = await capabilityDeps();
    await store.recordMessage({ roomId: dmRoom, eventId: "$fromBob", conversation: dm, ids: { id: "b1" }, sender: bobsGhost });
    const redactions = new Redactions(deps);
    await redactions.retractedOnXmpp({ ghost: bobsGhost, roomId: dmRoom, conversation: dm }, "b1");
    await redactions.retractedOnXmpp({ ghost: bobsGhost, roomId: dmRoom, conversation: dm }, "unknown");
    assert.deepEqual(matrix.redacted, [{ sender: bobsGhost, eventId: "$fromBob", reason: "Retracted on XMPP" }]);
  });
  it("has the bot redact a message a MUC moderator removed, saying who and why", async () => {
    const { deps, store, matrix } = await capabilityDeps();
    await store.recordMessage({ roomId: portalRoom, eventId: "$fromAlice", conversation: muc, ids: { id: "a1", stanzaId: "s9" }, sender: alice });
    await new Redactions(deps).moderatedOnXmpp({ kind: "moderation", muc, stanzaId: "s9", by: `${muc}/mod`, reason: "off topic" }, fromMuc);
    assert.deepEqual(matrix.redacted, [{ sender: "@bot:matrix.test", eventId: "$fromAlice", reason: "Removed on XMPP by mod: off topic" }]);
  });
});
