import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import type { MatrixInbound, XmppEvent } from "../../src/core/model.js";
import { parseMatrixEvent } from "../../src/matrix/events.js";
import { bridged, Dispatch } from "../../src/pipeline/dispatch.js";
import type { XmppDestination } from "../../src/pipeline/destinations/xmpp-destination.js";
import { Ingress } from "../../src/pipeline/ingress.js";
import { MemoryStore } from "../fakes/memory-store.js";

const log = pino({ level: "silent" });
const message = (id: string, roomId = "!a:hs") => ({ type: "m.room.message", room_id: roomId, sender: "@u:hs", event_id: id, content: { msgtype: "m.text", body: id } });

async function eventually(done: () => boolean): Promise<void> {
  for (let waited = 0; !done(); waited += 5) {
    if (waited > 2000) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Nothing is bridged: every event's destination is unknown. */
const nowhere = { ofMatrixEvent: async () => undefined, ofXmppEvent: async () => undefined };

async function setUp() {
  const store = new MemoryStore();
  const dispatch = new Dispatch(nowhere);
  const seen: string[] = [];
  const outcomes: string[] = [];
  const observer = {
    delivered: (direction: string, kind: string, seconds: number | undefined) => void outcomes.push(`${direction} ${kind} delivered${seconds === undefined ? "" : " timed"}`),
    failed: (direction: string, kind: string, retried: boolean, reason: string) => void outcomes.push(`${direction} ${kind} ${retried ? "retried" : "dropped"} ${reason}`),
  };
  dispatch.onMatrix("message", async (e) => {
    if (e.eventId === "$refused") throw new RangeError("refused");
    seen.push(`${e.roomId} ${e.eventId}`);
  });
  dispatch.onMatrix("presence", async (e) => void seen.push(`presence ${e.sender}`));
  dispatch.onXmpp("subject", async (e) => void seen.push(`subject ${e.subject}`));
  const readMatrixEvent = (raw: unknown): MatrixInbound | undefined => {
    const reading = parseMatrixEvent(raw);
    return "event" in reading ? reading.event : undefined;
  };
  const ingress = new Ingress({ store, dispatch, readMatrixEvent, confirmXmppWrites: () => async () => undefined, messageMapSeconds: 60, observer, log });
  // Taken over: the worker drains nothing before.
  await ingress.resume();
  return { store, ingress, seen, outcomes };
}

describe("the dispatch table", () => {
  it("runs a kind's handlers in the order they were registered, until one takes the event", async () => {
    const dispatch = new Dispatch(nowhere);
    const ran: string[] = [];
    dispatch.onMatrix("typing", async () => void ran.push("first"), async () => (ran.push("second"), true), async () => void ran.push("third"));
    await dispatch.matrixEvent({ kind: "typing", roomId: "!a:hs", userIds: [] });
    await dispatch.matrixEvent({ kind: "receipt", roomId: "!a:hs", reads: [] });
    assert.deepEqual(ran, ["first", "second"]);
  });
  it("finds an event's destination once, gives it to every handler, and keeps bridged-only handlers from unbridged rooms", async () => {
    const lookedUp: string[] = [];
    const portal = { roomId: "!portal:hs" } as unknown as XmppDestination;
    const dispatch = new Dispatch({
      ofMatrixEvent: async (e) => (lookedUp.push("roomId" in e ? e.roomId : ""), "roomId" in e && e.roomId === portal.roomId ? portal : undefined),
      ofXmppEvent: async () => undefined,
    });
    const ran: string[] = [];
    dispatch.onMatrix(
      "typing",
      async (e, d) => void ran.push(`any ${e.roomId} ${d?.roomId ?? "-"}`),
      bridged(async (e, d) => void ran.push(`bridged ${e.roomId} ${d.roomId}`)),
    );
    await dispatch.matrixEvent({ kind: "typing", roomId: "!portal:hs", userIds: [] });
    await dispatch.matrixEvent({ kind: "typing", roomId: "!elsewhere:hs", userIds: [] });
    assert.deepEqual(ran, ["any !portal:hs !portal:hs", "bridged !portal:hs !portal:hs", "any !elsewhere:hs -"]);
    assert.deepEqual(lookedUp, ["!portal:hs", "!elsewhere:hs"]);
  });
});

describe("the ingress", () => {
  it("tells the metrics how each entry went, timed from its arrival", async () => {
    const { ingress, outcomes } = await setUp();
    const sentNow = (event: ReturnType<typeof message>) => Object.assign(event, { origin_server_ts: Date.now() });
    await ingress.acceptTransaction("1", [sentNow(message("$refused")), sentNow(message("$ok"))]);
    await ingress.queueForMatrix("r@muc", { kind: "subject", muc: "r@muc", subject: "news" });
    await eventually(() => outcomes.length === 3);
    await ingress.stop();
    assert.deepEqual(outcomes.sort(), ["matrix_to_xmpp message delivered timed", "matrix_to_xmpp message dropped RangeError", "xmpp_to_matrix subject delivered timed"]);
  });
  it("queues a transaction's events in their rooms' lanes as sent, and delivers them parsed, in order", async () => {
    const { store, ingress, seen } = await setUp();
    const presence = { type: "m.presence", sender: "@u:hs", content: { presence: "online" } };
    await ingress.acceptTransaction("1", [message("$1"), message("$2", "!b:hs"), presence, message("$3")]);
    await eventually(() => seen.length === 4);
    await ingress.stop();
    assert.deepEqual(seen.filter((s) => s.startsWith("!a")), ["!a:hs $1", "!a:hs $3"]);
    assert.ok(seen.includes("!b:hs $2") && seen.includes("presence @u:hs"));
    assert.deepEqual([...store.outboxes.keys()].sort(), ["matrix:!a:hs", "matrix:!b:hs", "matrix:global"]);
  });
  it("queues a repeated transaction once, but a new one that reuses its ID (Synapse on SQLite after a restart)", async () => {
    const { ingress, seen } = await setUp();
    await ingress.acceptTransaction("7", [message("$1")]);
    await ingress.acceptTransaction("7", [message("$1")]);
    await ingress.acceptTransaction("7", [message("$2")]);
    await eventually(() => seen.length === 2);
    await ingress.stop();
    assert.deepEqual(seen, ["!a:hs $1", "!a:hs $2"]);
  });
  it("drops a malformed event where it is parsed, and goes on with the next", async () => {
    const { ingress, seen } = await setUp();
    const bad = { ...message("$bad"), content: { msgtype: "m.text" } };
    await ingress.acceptTransaction("1", [bad, message("$good")]);
    await eventually(() => seen.length === 1);
    await ingress.stop();
    assert.deepEqual(seen, ["!a:hs $good"]);
  });
  it("queues an XMPP event once per dedup key (a MUC sends each message to every puppet)", async () => {
    const { store, ingress, seen } = await setUp();
    const subject: XmppEvent = { kind: "subject", muc: "r@muc", subject: "news" };
    await ingress.queueForMatrix("r@muc", subject, "r@muc:sid:1");
    await ingress.queueForMatrix("r@muc", subject, "r@muc:sid:1");
    await ingress.queueForMatrix("r@muc", { ...subject, subject: "more" });
    await eventually(() => seen.length === 2);
    await ingress.stop();
    assert.deepEqual(seen, ["subject news", "subject more"]);
    assert.ok(store.outboxes.has("xmpp:r@muc"));
  });
});
