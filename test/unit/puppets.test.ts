import { describe, it } from "node:test";
import assert from "node:assert/strict";
import pino from "pino";
import { MucUnreachableError, Puppets } from "../../src/pipeline/destinations/puppets.js";
import { TransientError } from "../../src/pipeline/outbox.js";
import { MucJoinError, type MucOccupancy } from "../../src/xmpp/muc-occupancy.js";
import type { MatrixRooms } from "../../src/matrix/rooms.js";
import { ComponentOfflineError } from "../../src/xmpp/component-connection.js";

const muc = "far@conference.away.example";
const link = { kind: "portal" as const, roomId: "!portal:matrix.test", muc };
const UNANSWERED_GIVE_UP_MS = 300_000;

/** Puppets whose joins fail with `failure` (or succeed once it is undefined), on a clock the test moves. */
function scene(failure: () => Error | undefined) {
  const notices: string[] = [];
  let now = 0;
  const rooms = { notice: async (_roomId: string, text: string) => void notices.push(text), displayName: async () => "Alice" } as unknown as MatrixRooms;
  const occupancy = {
    // Never in: each message asks for the join again.
    nickOf: () => undefined,
    join: async (_muc: string, _user: string, nick: string) => {
      const err = failure();
      if (err) throw err;
      return nick;
    },
  } as unknown as MucOccupancy;
  const puppets = new Puppets({ rooms, occupancy, unreachableRetryMs: UNANSWERED_GIVE_UP_MS, log: pino({ level: "silent" }), now: () => now });
  const ready = () => puppets.ready(link, "@alice:matrix.test", link.roomId);
  const join = () => puppets.join(link, "@alice:matrix.test", undefined, link.roomId);
  return { notices, ready, join, later: (ms: number) => void (now += ms) };
}

describe("a MUC whose server does not answer", () => {
  it("keeps messages waiting, says so once, and gives them up with a notice past the limit", async () => {
    const s = scene(() => new MucJoinError(muc, "Alice", "remote-server-timeout"));
    await assert.rejects(s.ready(), TransientError);
    s.later(60_000);
    await assert.rejects(s.ready(), TransientError);
    assert.equal(s.notices.length, 1, "the room hears once that messages wait");
    assert.match(s.notices[0]!, /cannot be reached on XMPP \(remote-server-timeout\): messages for it wait, and are given up if it still cannot be reached after 5 minutes/);
    s.later(UNANSWERED_GIVE_UP_MS);
    assert.equal(await s.ready(), false, "given up");
    assert.equal(s.notices.length, 2);
    assert.match(s.notices[1]!, /could not be delivered to far@conference.away.example/);
  });

  it("takes a domain that cannot be found for one that cannot be reached, and a join given up says why", async () => {
    const s = scene(() => new MucJoinError(muc, "Alice", "remote-server-not-found"));
    await assert.rejects(s.join(), TransientError);
    s.later(UNANSWERED_GIVE_UP_MS);
    await assert.rejects(s.join(), (err: unknown) => err instanceof MucUnreachableError && err.condition === "remote-server-not-found");
    assert.equal(await s.ready(), false);
    assert.match(s.notices.at(-1)!, /could not join the room \(remote-server-not-found\)/);
  });

  it("starts counting again once the server answers", async () => {
    let down = true;
    const s = scene(() => (down ? new MucJoinError(muc, "Alice", "no answer from the MUC") : undefined));
    await assert.rejects(s.ready(), TransientError);
    s.later(UNANSWERED_GIVE_UP_MS - 1);
    down = false;
    assert.equal(await s.ready(), true);
    down = true;
    s.later(UNANSWERED_GIVE_UP_MS);
    await assert.rejects(s.ready(), TransientError, "a new spell of silence waits again");
    assert.equal(s.notices.length, 2);
  });

  it("always waits for the component link of our own", async () => {
    const s = scene(() => new ComponentOfflineError("xmpp.test"));
    await assert.rejects(s.ready(), TransientError);
    s.later(10 * UNANSWERED_GIVE_UP_MS);
    await assert.rejects(s.ready(), TransientError);
    assert.deepEqual(s.notices, []);
  });
});
