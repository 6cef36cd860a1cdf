import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ghostOfOccupant } from "../../src/core/identity.js";
import type { OccupantPresence } from "../../src/core/model.js";
import { Membership } from "../../src/pipeline/capabilities/membership.js";
import type { GhostProfiles } from "../../src/pipeline/capabilities/profiles/ghost-profiles.js";
import { DirectChats } from "../../src/pipeline/destinations/direct-chats.js";
import { addressing, alice, bob, bobsGhost, botUserId, capabilityDeps, fromMuc, muc, portalRoom } from "../fakes/capability-deps.js";

async function scene() {
  const parts = await capabilityDeps();
  const { rooms, store, log } = parts.deps;
  const { ghosts, gateway } = parts;
  const directChats = new DirectChats({ store, rooms, log });
  const profiles = { noteAvatarHash: async () => false } as unknown as GhostProfiles;
  const membership = new Membership({ rooms, occupancy: parts.occupancy, puppets: parts.puppets, ghosts, directChats, gateway, profiles, addressing, botUserId, log });
  return { ...parts, membership };
}
const member = (target: string, membership: "invite" | "join" | "leave", roomId = portalRoom, displayName?: string) =>
  ({ kind: "membership", roomId, sender: alice, eventId: "$m", target, membership, ...(displayName ? { displayName } : {}) }) as const;

describe("membership, Matrix to XMPP", () => {
  it("has a joining user's puppet join the MUC under their display name, and leave with them", async () => {
    const { membership, occupancy, at } = await scene();
    await membership.fromMatrix(member(alice, "join", portalRoom, "Alice"), at(portalRoom));
    assert.equal(occupancy.nickOf(muc, alice), "alice");
    await membership.fromMatrix(member(alice, "leave"), at(portalRoom));
    assert.equal(occupancy.nickOf(muc, alice), undefined);
  });
  it("opens a DM when a Matrix user invites a ghost into a direct chat", async () => {
    const { membership, store, matrix } = await scene();
    await membership.fromMatrix({ ...member(bobsGhost, "invite", "!new:matrix.test"), direct: true }, undefined);
    assert.equal((await store.dmLink(alice, bob))?.roomId, "!new:matrix.test");
    assert.deepEqual(matrix.members, [`join ${bobsGhost}`]);
  });
  it("invites the XMPP user to the room as a gateway room when it is no direct chat (XEP-0249, and mediated)", async () => {
    const { membership, store, stanzas, matrix } = await scene();
    await membership.fromMatrix(member(bobsGhost, "invite", "!room:matrix.test"), undefined);
    assert.equal((await store.dmLink(alice, bob))?.roomId, "!dm:matrix.test", "no DM opened");
    assert.deepEqual(matrix.members, [], "the ghost stays invited");
    assert.equal(stanzas[0]?.getChild("x", "jabber:x:conference")?.attrs.jid, "!room%matrix.test@matrix.xmpp.test");
    assert.equal(stanzas[1]?.getChild("x", "http://jabber.org/protocol/muc#user")?.getChild("invite")?.attrs.from, "alice%matrix.test@matrix.xmpp.test/matrix");
  });
});

describe("membership, XMPP to Matrix", () => {
  it("moves an occupant's ghost in and out of the room, and follows a nick change", async () => {
    const { membership, matrix } = await scene();
    const dave = { muc, nick: "dave", occupantKey: "dave@xmpp.test", realJid: "dave@xmpp.test" };
    const ghost = ghostOfOccupant(dave, addressing);
    const at = { ...fromMuc, ghost };
    const presence = (extra: Partial<OccupantPresence> = {}): OccupantPresence => ({ ...dave, available: true, self: false, ...extra });
    await membership.fromXmpp({ kind: "occupant", presence: presence(), change: "joined" }, at);
    await membership.fromXmpp({ kind: "occupant", presence: presence({ newNick: "david" }), change: "renamed" }, at);
    await membership.fromXmpp({ kind: "occupant", presence: presence({ available: false }), change: "left" }, at);
    assert.deepEqual(matrix.members, [`join ${ghost}`, `nick ${ghost} dave`, `nick ${ghost} david`, `leave ${ghost}`]);
  });
});
