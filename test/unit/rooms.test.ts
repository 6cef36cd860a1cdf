import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MatrixRooms } from "../../src/matrix/rooms.js";
import type { Homeserver } from "../../src/matrix/homeserver.js";

/** A homeserver whose room state is a map, counting the membership reads it answers. */
function fakeHomeserver(state: Map<string, string>) {
  const counts = { reads: 0 };
  let pause: Promise<void> | undefined;
  const intent = {
    matrixClient: {
      async getRoomStateEvent(roomId: string, _type: string, userId: string) {
        counts.reads++;
        const membership = state.get(`${roomId} ${userId}`);
        await pause;
        if (membership === undefined) throw Object.assign(new Error("not found"), { body: { errcode: "M_NOT_FOUND" } });
        return { membership };
      },
    },
    invite: async () => undefined,
    join: async () => undefined,
  };
  const homeserver = { intent: () => intent } as unknown as Homeserver;
  return { homeserver, counts, pauseReads: (until: Promise<void>) => (pause = until) };
}

describe("MatrixRooms.membership", () => {
  it("asks the homeserver once, then follows the membership events it sends", async () => {
    const state = new Map([["!dm @user", "join"]]);
    const { homeserver, counts } = fakeHomeserver(state);
    const rooms = new MatrixRooms(homeserver);
    assert.equal(await rooms.membership("!dm", "@user", "@ghost"), "join");
    assert.equal(await rooms.membership("!dm", "@user", "@ghost"), "join");
    assert.equal(counts.reads, 1);
    rooms.observeMembership({ roomId: "!dm", target: "@user", membership: "leave" });
    assert.equal(await rooms.membership("!dm", "@user", "@ghost"), "leave");
    assert.equal(counts.reads, 1);
  });

  it("remembers that a user never was a member", async () => {
    const { homeserver, counts } = fakeHomeserver(new Map());
    const rooms = new MatrixRooms(homeserver);
    assert.equal(await rooms.membership("!dm", "@user", "@ghost"), undefined);
    assert.equal(await rooms.membership("!dm", "@user", "@ghost"), undefined);
    assert.equal(counts.reads, 1);
  });

  it("reads again after the bridge changed a membership itself", async () => {
    const state = new Map([["!dm @user", "leave"]]);
    const { homeserver, counts } = fakeHomeserver(state);
    const rooms = new MatrixRooms(homeserver);
    assert.equal(await rooms.membership("!dm", "@user", "@ghost"), "leave");
    await rooms.invite("@ghost", "!dm", "@user");
    state.set("!dm @user", "invite");
    assert.equal(await rooms.membership("!dm", "@user", "@ghost"), "invite");
    assert.equal(counts.reads, 2);
  });

  it("does not remember a read that a membership event overtook", async () => {
    const state = new Map([["!dm @user", "join"]]);
    const { homeserver, counts, pauseReads } = fakeHomeserver(state);
    const rooms = new MatrixRooms(homeserver);
    let resume!: () => void;
    pauseReads(new Promise<void>((r) => (resume = r)));
    const read = rooms.membership("!dm", "@user", "@ghost");
    rooms.observeMembership({ roomId: "!dm", target: "@user", membership: "leave" });
    resume();
    assert.equal(await read, "join");
    assert.equal(await rooms.membership("!dm", "@user", "@ghost"), "leave");
    assert.equal(counts.reads, 1);
  });
});
