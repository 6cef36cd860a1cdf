import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ghostOfOccupant } from "../../src/core/identity.js";
import { DirectChats } from "../../src/pipeline/destinations/direct-chats.js";
import { Ghosts } from "../../src/pipeline/destinations/ghosts.js";
import { MatrixDestinations } from "../../src/pipeline/destinations/matrix-destination.js";
import { addressing, alice, capabilityDeps, muc, portalRoom } from "../fakes/capability-deps.js";

async function scene() {
  const parts = await capabilityDeps();
  const { rooms, store, log } = parts.deps;
  const destinations = new MatrixDestinations({ store, ghosts: new Ghosts({ rooms, firstSight: async () => undefined, self: addressing.componentDomain }), directChats: new DirectChats({ store, rooms, log }), addressing, log });
  return { ...parts, destinations };
}
const carol = { muc, nick: "carol", occupantKey: "carol" };

describe("Matrix destinations of XMPP events", () => {
  it("puts a MUC message's sender's ghost in the portal first", async () => {
    const { destinations, matrix } = await scene();
    const ghost = ghostOfOccupant(carol, addressing);
    const destination = await destinations.of({ kind: "message", message: { body: "hi", conversation: { kind: "muc", ...carol }, ids: { id: "c1" } } });
    assert.deepEqual({ roomId: destination?.roomId, conversation: destination?.conversation, ghost: destination?.ghost }, { roomId: portalRoom, conversation: muc, ghost });
    assert.deepEqual(matrix.members, [`join ${ghost}`]);
  });
  it("gives a removed puppet's own presence its room but no ghost: it stands for a Matrix user", async () => {
    const { destinations } = await scene();
    const presence = { muc, nick: "alice", occupantKey: "k", realJid: "alice%matrix.test@matrix.xmpp.test", available: false, self: true, removedBy: "kick" as const };
    const destination = await destinations.of({ kind: "occupant", presence, change: "left", puppetOf: alice });
    assert.equal(destination?.roomId, portalRoom);
    assert.equal(destination?.ghost, undefined);
  });
  it("has nothing for a MUC nobody bridged", async () => {
    const { destinations } = await scene();
    assert.equal(await destinations.of({ kind: "subject", muc: "other@conference.xmpp.test", subject: "x" }), undefined);
  });
});
