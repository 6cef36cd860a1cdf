import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import type { MatrixInbound } from "../../src/core/model.js";
import { parseMatrixEvent } from "../../src/matrix/events.js";
import { Dispatch } from "../../src/pipeline/dispatch.js";
import { Ingress } from "../../src/pipeline/ingress.js";
import { heldLane, SenderLimits } from "../../src/pipeline/sender-limits.js";
import { MemoryStore } from "../fakes/memory-store.js";

const log = pino({ level: "silent" });

async function eventually(done: () => boolean): Promise<void> {
  for (let waited = 0; !done(); waited += 5) {
    if (waited > 5000) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("the per-sender rate limit", () => {
  it("lets a burst through, then holds the sender until their held lane is found empty", () => {
    let now = 0;
    const limits = new SenderLimits({ messagesPerMinute: 60, burst: 2 }, () => now);
    assert.equal(limits.admit("matrix:!r", "@a", now), undefined);
    assert.equal(limits.admit("matrix:!r", "@a", now), undefined);
    const held = heldLane("matrix:!r", "@a");
    assert.deepEqual(limits.admit("matrix:!r", "@a", now), { heldLane: held, startsHolding: true });
    assert.equal(limits.admit("matrix:!r", "@b", now), undefined, "another sender is not held");
    assert.equal(limits.admit("matrix:!other", "@a", now), undefined, "nor the same sender in another room");
    now += 5000;
    // Tokens are back, but what the sender wrote meanwhile waits in the held lane: they stay held, in order.
    assert.deepEqual(limits.admit("matrix:!r", "@a", now), { heldLane: held, startsHolding: false });
    limits.moving(held);
    limits.drained(held);
    assert.deepEqual(limits.admit("matrix:!r", "@a", now), { heldLane: held, startsHolding: false }, "a copy on its way in keeps them held");
    limits.moved(held);
    limits.drained(held);
    assert.equal(limits.admit("matrix:!r", "@a", now), undefined);
  });
  it("tells a held sender once per burst, even when their held lane empties and fills again within it", () => {
    let now = 0;
    const limits = new SenderLimits({ messagesPerMinute: 60, burst: 2 }, () => now);
    const held = heldLane("matrix:!r", "@a");
    for (let i = 0; i < 2; i++) limits.admit("matrix:!r", "@a", now);
    assert.equal(limits.admit("matrix:!r", "@a", now)?.startsHolding, true);
    assert.equal(limits.shouldTell(held), true);
    limits.drained(held);
    now = 500;
    assert.equal(limits.admit("matrix:!r", "@a", now)?.startsHolding, true);
    assert.equal(limits.shouldTell(held), false, "the same burst");
    limits.drained(held);
    now = 2600;
    for (let i = 0; i < 2; i++) limits.admit("matrix:!r", "@a", now);
    assert.equal(limits.admit("matrix:!r", "@a", now)?.startsHolding, true);
    assert.equal(limits.shouldTell(held), true, "a new burst");
  });
  it("counts how fast the sender wrote, not how fast their room's lane drains", () => {
    let now = 0;
    const limits = new SenderLimits({ messagesPerMinute: 60, burst: 2 }, () => now);
    // Three messages written at once reach the head of a slow lane seconds apart: the third is held all the same.
    assert.equal(limits.admit("xmpp:r", "x", 0), undefined);
    now = 3000;
    assert.equal(limits.admit("xmpp:r", "x", 0), undefined);
    now = 6000;
    assert.equal(limits.admit("xmpp:r", "x", 0)?.startsHolding, true);
  });
  it("forgets the buckets of senders idle long enough for them to be full again", () => {
    let now = 0;
    const limits = new SenderLimits({ messagesPerMinute: 60, burst: 2 }, () => now);
    for (let i = 0; i < 1000; i++) limits.admit("xmpp:r", `sender${i}`, now);
    const buckets = (limits as unknown as { buckets: Map<string, unknown> }).buckets;
    assert.equal(buckets.size, 1000);
    now = 2000;
    limits.admit("xmpp:r", "newcomer", now);
    assert.equal(buckets.size, 1);
  });
  it("holds the senders whose held lanes an earlier run left", () => {
    const limits = new SenderLimits({ messagesPerMinute: 60, burst: 5 });
    limits.restore(["matrix:!r", heldLane("matrix:!r", "@a")]);
    assert.deepEqual(limits.admit("matrix:!r", "@a", Date.now()), { heldLane: heldLane("matrix:!r", "@a"), startsHolding: false });
  });
  it("passes a held lane on one token at a time, and lets go of its waiters when stopped", async () => {
    const limits = new SenderLimits({ messagesPerMinute: 60_000, burst: 1 });
    const lanes = [heldLane("xmpp:r", "x"), heldLane("xmpp:r", "y")];
    const passed: string[] = [];
    await Promise.all(lanes.map(async (lane) => {
      for (let i = 0; i < 3; i++) await limits.pace(lane).then(() => passed.push(lane));
    }));
    assert.equal(passed.length, 6);
    const lane = lanes[0]!;
    const slow = new SenderLimits({ messagesPerMinute: 1, burst: 1 });
    await slow.pace(lane);
    const waiting = slow.pace(lane);
    slow.stop();
    await assert.rejects(waiting, { name: "TransientError" });
  });
  it("is off at 0 messages a minute", () => {
    const limits = new SenderLimits({ messagesPerMinute: 0, burst: 1 });
    for (let i = 0; i < 10; i++) assert.equal(limits.admit("matrix:!r", "@a", Date.now()), undefined);
  });
});

describe("the ingress under the rate limit", () => {
  const message = (id: string, sender: string) => ({ type: "m.room.message", room_id: "!r:hs", sender, event_id: id, content: { msgtype: "m.text", body: id } });
  const readMatrixEvent = (raw: unknown): MatrixInbound | undefined => {
    const reading = parseMatrixEvent(raw);
    return "event" in reading ? reading.event : undefined;
  };

  it("holds a flooder's messages behind the room's others, delivers each once, in order, and tells the flooder once", async () => {
    const store = new MemoryStore();
    const dispatch = new Dispatch({ ofMatrixEvent: async () => undefined, ofXmppEvent: async () => undefined });
    const seen: string[] = [];
    dispatch.onMatrix("message", async (e) => void seen.push(e.eventId));
    const told: string[] = [];
    let rateLimited = 0;
    const observer = { delivered: () => undefined, failed: () => undefined, rateLimited: () => void rateLimited++ };
    const ingress = new Ingress({
      store,
      dispatch,
      readMatrixEvent,
      confirmXmppWrites: () => async () => undefined,
      messageMapSeconds: 60,
      observer,
      // A token every 20 ms: the flood's tail is held long enough for the other sender to pass it.
      limits: new SenderLimits({ messagesPerMinute: 3000, burst: 2 }),
      isOwnMatrixUser: (u) => u === "@bot:hs",
      rateLimited: { fromMatrix: async (e) => void told.push(`${e.sender} ${e.eventId}`), fromXmpp: async () => undefined },
      log,
    });
    await ingress.resume();
    const flood = Array.from({ length: 8 }, (_, i) => message(`$f${i}`, "@flood:hs"));
    await ingress.acceptTransaction("1", [...flood, message("$calm", "@calm:hs"), message("$b1", "@bot:hs"), message("$b2", "@bot:hs"), message("$b3", "@bot:hs")]);
    await eventually(() => seen.length === 12);
    await ingress.stop();
    const floodSeen = seen.filter((id) => id.startsWith("$f"));
    assert.deepEqual(floodSeen, flood.map((e) => e.event_id), "every flood message, once, in order");
    assert.ok(seen.indexOf("$calm") < seen.indexOf("$f7"), `the other sender goes before the flood's tail: ${seen.join(" ")}`);
    assert.ok(seen.indexOf("$b3") < seen.indexOf("$f7"), "the bridge's own users are not held");
    assert.deepEqual(told, ["@flood:hs $f2"]);
    assert.equal(rateLimited, 6);
    assert.deepEqual([...store.outboxes.values()].filter((entries) => entries.length > 0), []);
  });
});
