import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Kicks } from "../../src/pipeline/capabilities/kicks.js";
import { Puppets } from "../../src/pipeline/destinations/puppets.js";
import { TransientError } from "../../src/pipeline/outbox.js";
import { MucJoinError } from "../../src/xmpp/muc-occupancy.js";
import { ghostOfOccupant } from "../../src/core/identity.js";
import type { OccupantPresence } from "../../src/core/model.js";
import { addressing, alice, capabilityDeps, fromMuc, muc, portalRoom } from "../fakes/capability-deps.js";

const carol = { nick: "carol", occupantKey: "carol" };
const carolsGhost = ghostOfOccupant({ muc, ...carol }, addressing);
const dave = { nick: "dave", occupantKey: "dave@xmpp.test", realJid: "dave@xmpp.test" };
const davesGhost = ghostOfOccupant({ muc, ...dave }, addressing);

async function scene(answer?: () => Promise<void>) {
  const { deps, stanzas, matrix, occupancy, puppets, at } = await capabilityDeps({ occupants: [carol, dave], ...(answer ? { answer } : {}) });
  return { kicks: new Kicks({ ...deps, occupancy, puppets }), stanzas, matrix, at, deps, occupancy };
}
const removal = (sender: string, target: string, membership: "leave" | "ban" | "join", reason?: string) =>
  ({ kind: "membership", roomId: portalRoom, sender, eventId: "$m", target, membership, ...(reason ? { reason } : {}) }) as const;
const left = (who: { nick: string; occupantKey: string; realJid?: string }, removedBy?: "kick" | "ban"): OccupantPresence => ({ muc, ...who, available: false, self: false, ...(removedBy ? { removedBy } : {}) });

describe("kicks and bans, Matrix to XMPP", () => {
  it("has the moderator's puppet ban an occupant whose address the MUC shows", async () => {
    const { kicks, stanzas, at } = await scene();
    assert.equal(await kicks.fromMatrix(removal(alice, davesGhost, "ban", "spam"), at(portalRoom)), true);
    const item = stanzas[0]?.getChild("query")?.getChild("item");
    assert.deepEqual(item?.attrs, { jid: "dave@xmpp.test", affiliation: "outcast" });
    assert.equal(item?.getChildText("reason"), "spam");
  });
  it("kicks instead, and says so, when the MUC hides the occupant's address", async () => {
    const { kicks, stanzas, matrix, at } = await scene();
    await kicks.fromMatrix(removal(alice, carolsGhost, "ban"), at(portalRoom));
    assert.deepEqual(stanzas[0]?.getChild("query")?.getChild("item")?.attrs, { nick: "carol", role: "none" });
    assert.match(matrix.notices[0] ?? "", /^carol cannot be banned on XMPP/);
  });
  it("tells the room when the MUC refuses", async () => {
    const { kicks, matrix, at } = await scene(async () => {
      throw Object.assign(new Error("forbidden"), { condition: "forbidden" });
    });
    await kicks.fromMatrix(removal(alice, carolsGhost, "leave"), at(portalRoom));
    assert.deepEqual(matrix.notices, [`carol is still in ${muc} on XMPP: the MUC refused to kick them (forbidden).`]);
  });
  it("waits for a MUC whose server cannot be reached only so long, then tells the room", async () => {
    const { stanzas, matrix, at, deps, occupancy } = await scene();
    occupancy.join = async (room: string, _user: string, nick: string) => {
      throw new MucJoinError(room, nick, "remote-server-not-found");
    };
    let now = 0;
    const puppets = new Puppets({ rooms: deps.rooms, occupancy, unreachableRetryMs: 60_000, log: deps.log, now: () => now });
    const kicks = new Kicks({ ...deps, occupancy, puppets });
    await assert.rejects(kicks.fromMatrix(removal(alice, carolsGhost, "leave"), at(portalRoom)), TransientError);
    now += 60_000;
    await kicks.fromMatrix(removal(alice, carolsGhost, "leave"), at(portalRoom));
    assert.equal(stanzas.length, 0);
    assert.equal(matrix.notices.at(-1), `carol is still in ${muc} on XMPP: the MUC refused to kick them (remote-server-not-found).`);
  });
  it("takes a ghost's own leaving, and leaves Matrix users' membership to others", async () => {
    const { kicks, stanzas, at } = await scene();
    assert.equal(await kicks.fromMatrix(removal(carolsGhost, carolsGhost, "leave"), at(portalRoom)), true);
    assert.equal(await kicks.fromMatrix(removal(alice, alice, "join"), at(portalRoom)), false);
    assert.equal(stanzas.length, 0);
  });
});

describe("kicks and bans, XMPP to Matrix", () => {
  it("kicks the ghost of an occupant a moderator removed; an occupant who just left is not its business", async () => {
    const { kicks, matrix } = await scene();
    assert.equal(await kicks.fromXmpp({ kind: "occupant", presence: left(dave, "ban"), change: "left" }, fromMuc), true);
    assert.equal(await kicks.fromXmpp({ kind: "occupant", presence: left(carol), change: "left" }, fromMuc), false);
    assert.deepEqual(matrix.kicked, [{ roomId: portalRoom, userId: davesGhost, reason: "Banned on XMPP" }]);
  });
  it("kicks a Matrix user from the portal when a moderator removed their puppet", async () => {
    const { kicks, matrix } = await scene();
    await kicks.fromXmpp({ kind: "occupant", presence: left({ nick: "alice", occupantKey: "alice" }, "kick"), change: "left", puppetOf: alice }, fromMuc);
    assert.deepEqual(matrix.kicked, [{ roomId: portalRoom, userId: alice, reason: `You were kicked from ${muc} on XMPP` }]);
  });
});
