import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MatrixRooms } from "../../src/matrix/rooms.js";
import type { Homeserver } from "../../src/matrix/homeserver.js";
import { MemoryStore } from "../fakes/memory-store.js";

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
    const rooms = new MatrixRooms(homeserver, new MemoryStore());
    assert.equal(await rooms.membership("!dm", "@user", "@ghost"), "join");
    assert.equal(await rooms.membership("!dm", "@user", "@ghost"), "join");
    assert.equal(counts.reads, 1);
    await rooms.observeMembership({ roomId: "!dm", target: "@user", membership: "leave" });
    assert.equal(await rooms.membership("!dm", "@user", "@ghost"), "leave");
    assert.equal(counts.reads, 1);
  });

  it("remembers that a user never was a member", async () => {
    const { homeserver, counts } = fakeHomeserver(new Map());
    const rooms = new MatrixRooms(homeserver, new MemoryStore());
    assert.equal(await rooms.membership("!dm", "@user", "@ghost"), undefined);
    assert.equal(await rooms.membership("!dm", "@user", "@ghost"), undefined);
    assert.equal(counts.reads, 1);
  });

  it("reads again after the bridge changed a membership itself", async () => {
    const state = new Map([["!dm @user", "leave"]]);
    const { homeserver, counts } = fakeHomeserver(state);
    const rooms = new MatrixRooms(homeserver, new MemoryStore());
    assert.equal(await rooms.membership("!dm", "@user", "@ghost"), "leave");
    await rooms.invite("@ghost", "!dm", "@user");
    state.set("!dm @user", "invite");
    assert.equal(await rooms.membership("!dm", "@user", "@ghost"), "invite");
    assert.equal(counts.reads, 2);
  });

  it("does not remember a read that a membership event overtook", async () => {
    const state = new Map([["!dm @user", "join"]]);
    const { homeserver, counts, pauseReads } = fakeHomeserver(state);
    const rooms = new MatrixRooms(homeserver, new MemoryStore());
    let resume!: () => void;
    pauseReads(new Promise<void>((r) => (resume = r)));
    const read = rooms.membership("!dm", "@user", "@ghost");
    // The event comes while the homeserver's answer is on its way.
    while (counts.reads === 0) await new Promise((r) => setImmediate(r));
    await rooms.observeMembership({ roomId: "!dm", target: "@user", membership: "leave" });
    resume();
    assert.equal(await read, "join");
    assert.equal(await rooms.membership("!dm", "@user", "@ghost"), "leave");
    assert.equal(counts.reads, 1);
  });
});

/** A homeserver that notes the requests it is asked, refusing the first `refusals` sends with M_FORBIDDEN. */
function recordingHomeserver(refusals = 0, joinRefusals = 0) {
  const asked: string[] = [];
  const refuse = (what: string) => Object.assign(new Error(what), { body: { errcode: "M_FORBIDDEN" } });
  const intentOf = (userId: string) => ({
    ensureRegistered: async () => undefined,
    join: async (roomId: string) => void asked.push(`library join ${roomId} as ${userId}`),
    matrixClient: {
      async doRequest(method: string, path: string) {
        asked.push(`${method} ${path} as ${userId}`);
        if (path.includes("/send/") && refusals-- > 0) throw refuse("not in the room");
        if (path.includes("/join/") && joinRefusals-- > 0) throw refuse("not invited");
        return { event_id: "$sent" };
      },
      async inviteUser(invitee: string, roomId: string) {
        asked.push(`invite ${invitee} to ${roomId} as ${userId}`);
      },
    },
  });
  const homeserver = { botUserId: "@bot", intent: intentOf, bot: intentOf("@bot"), joinedBy: () => undefined } as unknown as Homeserver;
  return { homeserver, asked };
}

describe("MatrixRooms memberships kept in the store", () => {
  it("a restarted bridge takes what the homeserver told the one before from the store, not from the homeserver", async () => {
    const { homeserver, counts } = fakeHomeserver(new Map([["!dm @user", "join"]]));
    const store = new MemoryStore();
    await new MatrixRooms(homeserver, store).observeMembership({ roomId: "!dm", target: "@user", membership: "leave" });
    const restarted = new MatrixRooms(homeserver, store);
    assert.equal(await restarted.membership("!dm", "@user", "@ghost"), "leave");
    assert.equal(counts.reads, 0);
  });

  it("what the bridge changes itself is forgotten there too, and read again", async () => {
    const state = new Map([["!dm @user", "leave"]]);
    const { homeserver, counts } = fakeHomeserver(state);
    const store = new MemoryStore();
    const rooms = new MatrixRooms(homeserver, store);
    await rooms.observeMembership({ roomId: "!dm", target: "@user", membership: "leave" });
    await rooms.invite("@ghost", "!dm", "@user");
    state.set("!dm @user", "invite");
    assert.equal(await new MatrixRooms(homeserver, store).membership("!dm", "@user", "@ghost"), "invite");
    assert.equal(counts.reads, 1);
  });
});

describe("MatrixRooms.ensureJoined", () => {
  it("costs nothing for a member the homeserver said joined, and joins anyone else", async () => {
    const { homeserver, asked } = recordingHomeserver();
    const rooms = new MatrixRooms(homeserver, new MemoryStore());
    await rooms.observeMembership({ roomId: "!room", target: "@ghost", membership: "join" });
    await rooms.ensureJoined("@ghost", "!room");
    assert.deepEqual(asked, []);
    await rooms.observeMembership({ roomId: "!room", target: "@ghost", membership: "leave" });
    await rooms.ensureJoined("@ghost", "!room");
    assert.deepEqual(asked, ["library join !room as @ghost"]);
  });

  it("records a join the homeserver answered, as no member event may follow (a repeated join makes none)", async () => {
    const { homeserver, asked } = recordingHomeserver();
    const rooms = new MatrixRooms(homeserver, new MemoryStore());
    const trail = { origin: "room@conference.xmpp.test", bridges: ["matrix.xmpp.test"] };
    await rooms.ensureJoined("@ghost", "!room", trail);
    await rooms.ensureJoined("@ghost", "!room", trail);
    await rooms.ensureJoined("@dm-ghost", "!dm");
    await rooms.ensureJoined("@dm-ghost", "!dm");
    assert.deepEqual(asked, ["POST /_matrix/client/v3/join/!room as @ghost", "library join !dm as @dm-ghost"]);
  });
});

describe("MatrixRooms.send", () => {
  const sendPath = "/_matrix/client/v3/rooms/!room/send/m.room.message/t1";

  it("is one request when the homeserver takes it", async () => {
    const { homeserver, asked } = recordingHomeserver();
    assert.equal(await new MatrixRooms(homeserver, new MemoryStore()).send("@ghost", "!room", { body: "hi" }, "t1"), "$sent");
    assert.deepEqual(asked, [`PUT ${sendPath} as @ghost`]);
  });

  it("refused for want of membership: joins again, and sends once more", async () => {
    const { homeserver, asked } = recordingHomeserver(1);
    assert.equal(await new MatrixRooms(homeserver, new MemoryStore()).send("@ghost", "!room", { body: "hi" }, "t1"), "$sent");
    assert.deepEqual(asked, [`PUT ${sendPath} as @ghost`, "POST /_matrix/client/v3/join/!room as @ghost", `PUT ${sendPath} as @ghost`]);
  });

  it("where the ghost may not join alone, the bot invites it first", async () => {
    const { homeserver, asked } = recordingHomeserver(1, 1);
    await new MatrixRooms(homeserver, new MemoryStore()).send("@ghost", "!room", { body: "hi" }, "t1");
    assert.deepEqual(asked, [
      `PUT ${sendPath} as @ghost`,
      "POST /_matrix/client/v3/join/!room as @ghost",
      "invite @ghost to !room as @bot",
      "POST /_matrix/client/v3/join/!room as @ghost",
      `PUT ${sendPath} as @ghost`,
    ]);
  });

  it("refused again after joining: the refusal stands", async () => {
    const { homeserver } = recordingHomeserver(2);
    await assert.rejects(new MatrixRooms(homeserver, new MemoryStore()).send("@ghost", "!room", { body: "hi" }, "t1"), { body: { errcode: "M_FORBIDDEN" } });
  });
});
