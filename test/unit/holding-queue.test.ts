import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import { InputRefusedError } from "../../src/core/errors.js";
import type { MatrixInbound, XmppEvent } from "../../src/core/model.js";
import { parseMatrixEvent } from "../../src/matrix/events.js";
import { Dispatch } from "../../src/pipeline/dispatch.js";
import { Ingress } from "../../src/pipeline/ingress.js";
import { MemoryStore } from "../fakes/memory-store.js";

/** Waits for a condition with a generous timeout: no assertion on how long anything takes. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited > 20_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The store in memory, counting the appends tried while it fails. */
class CountingStore extends MemoryStore {
  failedAppends = 0;

  constructor() {
    super();
    const { appendToOutbox, appendToOutboxOnce } = this;
    this.appendToOutbox = (entry) => (this.count(), appendToOutbox(entry));
    this.appendToOutboxOnce = (entry, key) => (this.count(), appendToOutboxOnce(entry, key));
  }

  private count(): void {
    if (this.failing) this.failedAppends++;
  }
}

async function setUp(options: { holdMaxItems?: number } = {}) {
  const store = new CountingStore();
  const records: { level: number; msg: string; [key: string]: unknown }[] = [];
  const log = pino({ level: "info" }, { write: (line: string) => void records.push(JSON.parse(line)) });
  const dispatch = new Dispatch({ ofMatrixEvent: async () => undefined, ofXmppEvent: async () => undefined });
  const seen: string[] = [];
  dispatch.onXmpp("subject", async (e) => void seen.push(`${e.muc} ${e.subject}`));
  dispatch.onMatrix("message", async (e) => void seen.push(`${e.roomId} ${e.eventId}`));
  const readMatrixEvent = (raw: unknown): MatrixInbound | undefined => {
    const reading = parseMatrixEvent(raw);
    return "event" in reading ? reading.event : undefined;
  };
  const ingress = new Ingress({ store, dispatch, readMatrixEvent, confirmXmppWrites: () => async () => undefined, messageMapSeconds: 60, log, ...options });
  const say = (muc: string, subject: string): XmppEvent => ({ kind: "subject", muc, subject });
  // Taken over: the worker drains nothing before.
  await ingress.resume();
  return { store, ingress, seen, records, say };
}

describe("XMPP input while the store is away", () => {
  it("is held in memory and stored once the store is back: in order per lane, each once", async () => {
    const { store, ingress, seen, say } = await setUp();
    await ingress.queueForMatrix("a@muc", say("a@muc", "before"));
    await until(() => seen.length === 1 && store.outboxes.get("xmpp:a@muc")?.length === 0, "the first event");
    store.failing = true;
    for (let i = 0; i < 20; i++) {
      await ingress.queueForMatrix("a@muc", say("a@muc", `a${i}`), `a@muc:sid:${i}`);
      await ingress.queueForMatrix("b@muc", say("b@muc", `b${i}`));
    }
    assert.deepEqual(store.outboxes.get("xmpp:a@muc"), [], "nothing reached the store meanwhile");
    store.failing = false;
    await until(() => seen.length === 41, "every held event");
    await ingress.stop();
    const expect = (muc: string, prefix: string) => Array.from({ length: 20 }, (_, i) => `${muc} ${prefix}${i}`);
    assert.deepEqual(seen.filter((s) => s.startsWith("a@muc ") && s !== "a@muc before"), expect("a@muc", "a"));
    assert.deepEqual(seen.filter((s) => s.startsWith("b@muc ")), expect("b@muc", "b"));
  });

  it("goes in behind what is held, even once the store answers again", async () => {
    const { store, ingress, seen, say } = await setUp();
    store.failing = true;
    await ingress.queueForMatrix("a@muc", say("a@muc", "1"));
    await ingress.queueForMatrix("a@muc", say("a@muc", "2"));
    // The store answers, but the retry has not run yet: the next input still waits behind the held ones.
    store.failing = false;
    await ingress.queueForMatrix("a@muc", say("a@muc", "3"));
    await until(() => seen.length === 3, "all three");
    await ingress.stop();
    assert.deepEqual(seen, ["a@muc 1", "a@muc 2", "a@muc 3"]);
  });

  it("keeps one copy of a message a MUC sent to each puppet", async () => {
    const { store, ingress, seen, say } = await setUp({ holdMaxItems: 2 });
    store.failing = true;
    for (let puppet = 0; puppet < 5; puppet++) await ingress.queueForMatrix("a@muc", say("a@muc", "once"), "a@muc:sid:1");
    await ingress.queueForMatrix("a@muc", say("a@muc", "next"), "a@muc:sid:2");
    store.failing = false;
    await until(() => seen.length === 2, "both messages");
    await ingress.stop();
    assert.deepEqual(seen, ["a@muc once", "a@muc next"]);
  });

  it("is refused past the bound, and what is held is still stored", async () => {
    const { store, ingress, seen, records, say } = await setUp({ holdMaxItems: 3 });
    store.failing = true;
    for (let i = 0; i < 3; i++) await ingress.queueForMatrix("a@muc", say("a@muc", `${i}`));
    await assert.rejects(ingress.queueForMatrix("a@muc", say("a@muc", "too many")), InputRefusedError);
    await assert.rejects(ingress.queueForMatrix("b@muc", say("b@muc", "too many")), InputRefusedError);
    store.failing = false;
    await until(() => seen.length === 3, "the held events");
    await ingress.queueForMatrix("a@muc", say("a@muc", "after"));
    await until(() => seen.length === 4, "input taken again");
    await ingress.stop();
    assert.deepEqual(seen, ["a@muc 0", "a@muc 1", "a@muc 2", "a@muc after"]);
    assert.equal(records.filter((r) => r.msg.startsWith("too much XMPP input is held")).length, 1, "the refusals are logged once");
    const back = records.find((r) => r.msg.startsWith("the store is back"));
    assert.equal(back?.held, 3);
    assert.equal(back?.refused, 2);
  });

  it("is retried by one loop, and logged once when holding starts and once when it is over", async () => {
    const { store, ingress, seen, records, say } = await setUp();
    store.failing = true;
    for (let i = 0; i < 200; i++) await ingress.queueForMatrix(`m${i % 10}@muc`, say(`m${i % 10}@muc`, `${i}`));
    // Let the retry loop try a few times.
    await until(() => store.failedAppends >= 3, "a few retries");
    const attempts = store.failedAppends;
    store.failing = false;
    await until(() => seen.length === 200, "every held event");
    await ingress.stop();
    assert.ok(attempts < 200, `the store was tried ${attempts} times for 200 held events, not once or more per event`);
    assert.deepEqual(
      records.filter((r) => r.level >= 30).map((r) => r.msg),
      ["the store is away: XMPP input is held in memory, in order, until it is back", "the store is back: the XMPP input held meanwhile is stored, in order"],
    );
    assert.equal(records.find((r) => r.msg.startsWith("the store is back"))?.held, 200);
  });
});

describe("the homeserver's transactions while the store is away", () => {
  it("are refused, to be sent again, and then queued once", async () => {
    const { store, ingress, seen } = await setUp();
    const event = { type: "m.room.message", room_id: "!a:hs", sender: "@u:hs", event_id: "$1", content: { msgtype: "m.text", body: "hi" } };
    store.failing = true;
    await assert.rejects(ingress.acceptTransaction("1", [event]));
    store.failing = false;
    await ingress.acceptTransaction("1", [event]);
    await until(() => seen.length === 1 && store.outboxes.get("matrix:!a:hs")?.length === 0, "the event delivered");
    await ingress.acceptTransaction("1", [event]);
    assert.deepEqual(store.outboxes.get("matrix:!a:hs"), [], "the repeat is not queued again");
    await ingress.stop();
    assert.deepEqual(seen, ["!a:hs $1"]);
  });
});
