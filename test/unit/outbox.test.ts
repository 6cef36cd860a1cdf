import { describe, it } from "node:test";
import assert from "node:assert/strict";
import pino from "pino";
import { OutboxWorker, TransientError, type DeliveryCheck, type EntryHandler } from "../../src/pipeline/outbox.js";
import { FencedError } from "../../src/store/lease.js";
import { MemoryStore } from "../fakes/memory-store.js";

const log = pino({ level: "silent" });

/** Waits until the condition holds, or fails after a few seconds. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (condition()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function queue(store: MemoryStore, lane: string, ...payloads: string[]): void {
  store.outboxes.set(lane, [...(store.outboxes.get(lane) ?? []), ...payloads]);
}

function worker(store: MemoryStore, handle: EntryHandler, deliveryCheck?: DeliveryCheck): OutboxWorker {
  return new OutboxWorker({ store, handle, log, ...(deliveryCheck ? { deliveryCheck } : {}) });
}

/** A worker of an instance that has taken over: draining the lanes that hold entries. */
async function started(store: MemoryStore, handle: EntryHandler, deliveryCheck?: DeliveryCheck): Promise<OutboxWorker> {
  const w = worker(store, handle, deliveryCheck);
  await w.resume();
  return w;
}

describe("the outbox worker", () => {
  it("delivers each lane in order and empties it", async () => {
    const store = new MemoryStore();
    const seen: string[] = [];
    queue(store, "a", "1", "2", "3");
    queue(store, "b", "x");
    const w = worker(store, async (lane, payload) => void seen.push(`${lane}${payload}`));
    assert.equal(await w.resume(), 2);
    await until(() => seen.length === 4, "every entry");
    await w.stop();
    assert.deepEqual(seen.filter((s) => s.startsWith("a")), ["a1", "a2", "a3"]);
    assert.deepEqual(store.outboxes.get("a"), []);
  });

  it("keeps an entry that failed for now at the head and retries it; later entries wait", async () => {
    const store = new MemoryStore();
    queue(store, "a", "1", "2");
    let failures = 1;
    const seen: string[] = [];
    const w = await started(store, async (_lane, payload) => {
      if (payload === "1" && failures-- > 0) throw new TransientError("server away");
      seen.push(payload);
    });
    await until(() => seen.length === 2, "the retry");
    await w.stop();
    assert.deepEqual(seen, ["1", "2"]);
  });

  it("drops an entry that can never be delivered, so one bad entry cannot stall a room", async () => {
    const store = new MemoryStore();
    queue(store, "a", "bad", "good");
    const seen: string[] = [];
    const w = await started(store, async (_lane, payload) => {
      if (payload === "bad") throw new Error("refused");
      seen.push(payload);
    });
    await until(() => store.outboxes.get("a")?.length === 0, "the lane to empty");
    await w.stop();
    assert.deepEqual(seen, ["good"]);
  });

  it("tells who sent an entry that it was dropped; never one that waits for a retry or for the store", async () => {
    const store = new MemoryStore();
    queue(store, "a", "late", "bad", "held");
    const dropped: string[] = [];
    let lateFailures = 1;
    let heldFailures = 1;
    const w = new OutboxWorker({
      store,
      log,
      handle: async (_lane, payload) => {
        if (payload === "late" && lateFailures-- > 0) throw new TransientError("server away");
        if (payload === "bad") throw new Error("refused");
        if (payload === "held" && heldFailures-- > 0) {
          // The store goes away for a moment: what failed meanwhile may have failed for that alone.
          store.failing = true;
          setTimeout(() => (store.failing = false), 50);
          throw new Error("store unavailable");
        }
      },
      dropped: async (_lane, payload) => void dropped.push(payload),
    });
    await w.resume();
    await until(() => store.outboxes.get("a")?.length === 0, "the lane to empty");
    await w.stop();
    assert.deepEqual(dropped, ["bad"]);
  });

  it("writes an entry only once the one before it is confirmed and out of its lane; what the stream lost goes again", async () => {
    const store = new MemoryStore();
    queue(store, "to-xmpp", "1", "2");
    // Each entry as written, with its lane at that moment: what a crash then would send again.
    const seen: string[] = [];
    // Each delivery's confirmation, settled by the test as the stream would.
    const pending: { resolve(): void; reject(err: Error): void }[] = [];
    const w = await started(
      store,
      async (lane, payload) => void seen.push(`${payload} [${store.outboxes.get(lane)?.join(" ")}]`),
      () => () => new Promise<void>((resolve, reject) => pending.push({ resolve, reject })),
    );
    await until(() => pending.length === 1, "the first written");
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(seen, ["1 [1 2]"], "the next waits for the confirmation");
    pending.shift()?.reject(new Error("stream broke"));
    await until(() => pending.length === 1, "the first written again");
    assert.deepEqual(seen, ["1 [1 2]", "1 [1 2]"], "what the stream lost goes again, first");
    pending.shift()?.resolve();
    await until(() => pending.length === 1, "the second written");
    assert.deepEqual(seen.at(-1), "2 [2]", "the second is written once the first left its lane");
    pending.shift()?.resolve();
    await until(() => store.outboxes.get("to-xmpp")?.length === 0, "the lane to empty");
    await w.stop();
    assert.equal(seen.length, 3, "confirmed entries are not delivered again");
  });

  it("puts back only what was not confirmed", async () => {
    const store = new MemoryStore();
    queue(store, "to-xmpp", "1", "2", "3");
    const seen: string[] = [];
    let calls = 0;
    const w = await started(
      store,
      async (_lane, payload) => void seen.push(payload),
      () => () => (++calls === 2 ? Promise.reject(new Error("stream broke")) : Promise.resolve()),
    );
    await until(() => store.outboxes.get("to-xmpp")?.length === 0 && seen.length >= 4, "the lane to empty");
    await w.stop();
    assert.equal(seen[0], "1");
    assert.deepEqual(seen.slice(seen.lastIndexOf("2")), ["2", "3"], "the second entry and what followed it went again");
    assert.equal(seen.filter((p) => p === "1").length, 1, "the confirmed first entry went once");
  });

  it("confirms what went out before a failure, and keeps the rest", async () => {
    const store = new MemoryStore();
    queue(store, "a", "1", "2", "3");
    let fail = true;
    const checkedAfter: number[] = [];
    const seen: string[] = [];
    const w = await started(
      store,
      async (_lane, payload) => {
        if (payload === "2" && fail) {
          fail = false;
          throw new TransientError("link down");
        }
        seen.push(payload);
      },
      () => () => {
        checkedAfter.push(seen.length);
        return Promise.resolve();
      },
    );
    await until(() => store.outboxes.get("a")?.length === 0, "the lane to empty");
    await w.stop();
    assert.deepEqual(seen, ["1", "2", "3"], "nothing twice");
    assert.deepEqual(checkedAfter, [1, 2, 3], "each delivered entry is confirmed; the failed attempt is not");
  });

  it("waits for the store to come back instead of losing entries", async () => {
    const store = new MemoryStore();
    const seen: string[] = [];
    const w = await started(store, async (_lane, payload) => void seen.push(payload));
    queue(store, "a", "1");
    store.failing = true;
    w.wake("a");
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(seen, []);
    store.failing = false;
    await until(() => seen.length === 1, "delivery after the store is back");
    await until(() => store.outboxes.get("a")?.length === 0, "removal");
    await w.stop();
  });

  it("keeps an entry whose delivery failed while the store was away, whatever the error", async () => {
    const store = new MemoryStore();
    queue(store, "a", "1", "2");
    const seen: string[] = [];
    let first = true;
    const w = await started(store, async (_lane, payload) => {
      if (payload === "1" && first) {
        // The handler read the store, which went away: its error says nothing of the entry itself.
        first = false;
        store.failing = true;
        throw new Error("Connection is closed.");
      }
      seen.push(payload);
    });
    await until(() => !first, "the failed delivery");
    store.failing = false;
    await until(() => store.outboxes.get("a")?.length === 0, "the lane to empty");
    await w.stop();
    assert.deepEqual(seen, ["1", "2"]);
  });

  it("removes delivered entries only while they are still at the head of their lane", async () => {
    const store = new MemoryStore();
    queue(store, "a", "1", "2", "3");
    await store.removeFromOutbox("a", ["1"]);
    // The same removal again (its answer was lost, and it was sent again) removes nothing more.
    await store.removeFromOutbox("a", ["1"]);
    assert.deepEqual(store.outboxes.get("a"), ["2", "3"]);
  });

  it("drains nothing before the instance takes over (resume): a lane woken, the store coming up wait for it", async () => {
    const store = new MemoryStore();
    queue(store, "a", "1", "2");
    const seen: string[] = [];
    const w = worker(store, async (_lane, payload) => void seen.push(payload));
    w.wake("a");
    assert.equal(await w.wakePending(), 0);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(seen, []);
    assert.equal(await w.resume(), 1);
    await until(() => seen.length === 2, "the entries after the resume");
    await w.stop();
    assert.deepEqual(seen, ["1", "2"]);
  });

  it("paused (on standby) drains nothing until resumed, then everything in order", async () => {
    const store = new MemoryStore();
    const seen: string[] = [];
    const w = await started(store, async (_lane, payload) => void seen.push(payload));
    await w.pause();
    queue(store, "a", "1", "2");
    w.wake("a");
    assert.equal(await w.wakePending().then(() => seen.length), 0);
    assert.equal(await w.resume(), 1);
    await until(() => seen.length === 2, "the entries after the resume");
    await w.stop();
    assert.deepEqual(seen, ["1", "2"]);
  });

  it("fenced (another instance is active), keeps the entry for that instance: never dropped, never removed", async () => {
    const store = new MemoryStore();
    queue(store, "a", "1", "2");
    const dropped: string[] = [];
    const w = new OutboxWorker({
      store,
      log,
      handle: async () => {
        throw new FencedError(1, "recording a message");
      },
      dropped: async (_lane, payload) => void dropped.push(payload),
    });
    await w.resume();
    await new Promise((r) => setTimeout(r, 50));
    await w.pause();
    assert.deepEqual(dropped, []);
    assert.deepEqual(store.outboxes.get("a"), ["1", "2"]);
  });
});
