import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Element } from "@xmpp/xml";
import { Reactions } from "../../src/pipeline/capabilities/reactions.js";
import { alice, bob, bobsGhost as ghost, capabilityDeps, dm as conversation, dmRoom as roomId } from "../fakes/capability-deps.js";

const REACTIONS = "urn:xmpp:reactions:0";

/** Alice's DM with Bob, with a message of each already bridged. */
async function scene(options: { peerSupportsReactions?: boolean } = {}) {
  const { deps, store, stanzas: sent, matrix, at } = await capabilityDeps({ messageText: { $unbridged: "what Alice said first" } });
  await store.recordMessage({ roomId, eventId: "$fromBob", conversation, ids: { id: "b1", originId: "b1" }, sender: ghost });
  await store.recordMessage({ roomId, eventId: "$fromAlice", conversation, ids: { id: "a1", originId: "a1" }, sender: alice });
  const reactions = new Reactions({ ...deps, peerSupports: async () => options.peerSupportsReactions });
  return { sent, matrix, reactions, at };
}

const emojisOf = (stanza: Element | undefined): string[] | undefined =>
  stanza
    ?.getChild("reactions", REACTIONS)
    ?.getChildren("reaction")
    .map((r) => r.getText());

describe("reactions, Matrix to XMPP", () => {
  it("sends the user's whole set of reactions, and the set without one they took back", async () => {
    const { sent, reactions, at } = await scene();
    await reactions.fromMatrix({ kind: "reaction", roomId, sender: alice, eventId: "$r1", target: "$fromBob", key: "👍" }, at(roomId));
    await reactions.fromMatrix({ kind: "reaction", roomId, sender: alice, eventId: "$r2", target: "$fromBob", key: "🎉" }, at(roomId));
    assert.equal(sent[1]?.attrs.to, bob);
    assert.equal(sent[1]?.getChild("reactions", REACTIONS)?.attrs.id, "b1");
    assert.deepEqual(emojisOf(sent[1]), ["👍", "🎉"]);
    assert.equal(await reactions.takenBackOnMatrix({ kind: "redaction", roomId, sender: alice, eventId: "$x", redacts: "$r1" }, at(roomId)), true);
    assert.deepEqual(emojisOf(sent[2]), ["🎉"]);
  });
  it("leaves a redaction of something else to the redactions, and another user's reaction alone", async () => {
    const { sent, reactions, at } = await scene();
    assert.equal(await reactions.takenBackOnMatrix({ kind: "redaction", roomId, sender: alice, eventId: "$x", redacts: "$fromBob" }, at(roomId)), false);
    await reactions.fromMatrix({ kind: "reaction", roomId, sender: alice, eventId: "$r1", target: "$fromBob", key: "👍" }, at(roomId));
    assert.equal(await reactions.takenBackOnMatrix({ kind: "redaction", roomId, sender: "@mallory:matrix.test", eventId: "$y", redacts: "$r1" }, at(roomId)), true);
    assert.equal(sent.length, 1);
  });
  it("falls back to a line of text for a message XMPP never saw, and for a client without reactions", async () => {
    const unseen = await scene();
    await unseen.reactions.fromMatrix({ kind: "reaction", roomId, sender: alice, eventId: "$r1", target: "$unbridged", key: "👍" }, unseen.at(roomId));
    assert.equal(unseen.sent[0]?.getChildText("body"), '/me reacted 👍 to "what Alice said first"');
    assert.equal(unseen.sent[0]?.getChild("reactions", REACTIONS), undefined);
    const plain = await scene({ peerSupportsReactions: false });
    await plain.reactions.fromMatrix({ kind: "reaction", roomId, sender: alice, eventId: "$r1", target: "$fromBob", key: "👍" }, plain.at(roomId));
    assert.equal(plain.sent[0]?.getChildText("body"), "/me reacted 👍");
  });
});

describe("reactions, XMPP to Matrix", () => {
  it("brings the ghost's reactions in line with the set XMPP sent", async () => {
    const { matrix, reactions } = await scene();
    const destination = { ghost, roomId, conversation };
    await reactions.toMatrix(destination, { id: "a1", emojis: ["👍", "🎉"] }, { id: "x1" });
    assert.deepEqual(
      matrix.sent.map((s) => [s.type, s.sender, s.content["m.relates_to"]]),
      [
        ["m.reaction", ghost, { rel_type: "m.annotation", event_id: "$fromAlice", key: "👍" }],
        ["m.reaction", ghost, { rel_type: "m.annotation", event_id: "$fromAlice", key: "🎉" }],
      ],
    );
    await reactions.toMatrix(destination, { id: "a1", emojis: ["🎉"] }, { id: "x2" });
    assert.deepEqual(matrix.redacted.map((r) => r.eventId), ["$m1"]);
    await reactions.toMatrix(destination, { id: "a1", emojis: [] }, { id: "x3" });
    assert.deepEqual(matrix.redacted.map((r) => r.eventId), ["$m1", "$m2"]);
  });
  it("does nothing for reactions to a message the bridge does not know", async () => {
    const { matrix, reactions } = await scene();
    await reactions.toMatrix({ ghost, roomId, conversation }, { id: "unknown", emojis: ["👍"] }, { id: "x1" });
    assert.deepEqual(matrix.sent, []);
  });
});
