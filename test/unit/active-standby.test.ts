import { describe, it } from "node:test";
import assert from "node:assert/strict";
import pino from "pino";
import { ActiveStandby } from "../../src/pipeline/active-standby.js";
import { FencedError, type LeaseStore } from "../../src/store/lease.js";

const log = pino({ level: "silent" });
const LEASE_MS = 300;

/** The lease as Redis keeps it, in memory: a holder with its token, expiring unless renewed. */
class SharedLease {
  holder: string | undefined;
  token = 0;
  expiresAt = 0;
  /** Instances cut off from the store: each of their calls fails. */
  readonly unreachable = new Set<string>();

  storeFor(instance: string): LeaseStore & { fenced(): void } {
    const listeners: ((err: FencedError) => void)[] = [];
    let fencedWith = 0;
    const reach = async (): Promise<void> => {
      await Promise.resolve();
      if (this.unreachable.has(instance)) throw new Error("store unreachable");
    };
    const holds = (holder: string, token: number): boolean => this.holder === `${holder} ${token}` && Date.now() < this.expiresAt;
    return {
      acquireLease: async (holder, ttlMs) => {
        await reach();
        if (this.holder !== undefined && Date.now() < this.expiresAt) return undefined;
        this.holder = `${holder} ${++this.token}`;
        this.expiresAt = Date.now() + ttlMs;
        return this.token;
      },
      renewLease: async (holder, token, ttlMs) => {
        await reach();
        if (!holds(holder, token)) return false;
        this.expiresAt = Date.now() + ttlMs;
        return true;
      },
      releaseLease: async (holder, token) => {
        await reach();
        if (holds(holder, token)) this.holder = undefined;
      },
      fence: (token) => void (fencedWith = token),
      onFenced: (listener) => void listeners.push(listener),
      /** A write of this instance's is refused, as the store's fenced scripts refuse it. */
      fenced: () => {
        for (const listener of listeners) listener(new FencedError(fencedWith, "a write"));
      },
    };
  }
}

/** An instance and the story of what it was told to do; `renewals` counts the renewals it was told of. */
function instance(lease: SharedLease, name: string, story: string[], takeOver: () => Promise<void> = async () => undefined) {
  const store = lease.storeFor(name);
  const told = { renewals: 0 };
  const role = new ActiveStandby({
    store,
    instanceId: name,
    leaseMs: LEASE_MS,
    takeOver: async () => {
      story.push(`${name} takes over`);
      await takeOver();
    },
    standDown: async () => void story.push(`${name} stands down`),
    renewed: () => void told.renewals++,
    log,
  });
  return { role, store, told };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (condition()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Two instances on one lease, started one after the other: "a" is active, "b" on standby. */
async function pair() {
  const lease = new SharedLease();
  const story: string[] = [];
  const a = instance(lease, "a", story);
  const b = instance(lease, "b", story);
  await a.role.start();
  await b.role.start();
  return { lease, story, a, b };
}

describe("active and standby", () => {
  it("makes the first instance active and the second a standby, which takes over when the first stops", async () => {
    const { story, a, b } = await pair();
    assert.equal(a.role.isActive(), true);
    assert.equal(b.role.isActive(), false);
    await a.role.stop();
    await until(() => b.role.isActive(), "b to take over");
    await b.role.stop();
    assert.deepEqual(story, ["a takes over", "b takes over"]);
  });

  it("keeps the lease while it renews it: the standby never takes over", async () => {
    const { lease, story, a, b } = await pair();
    const renewals = lease.expiresAt;
    await until(() => lease.expiresAt > renewals + LEASE_MS, "several renewals");
    assert.deepEqual(story, ["a takes over"]);
    assert.ok(a.told.renewals > 0, "the active instance is told of its renewals, to look for entries others appended");
    assert.equal(b.told.renewals, 0);
    await Promise.all([a.role.stop(), b.role.stop()]);
  });

  it("steps down when it cannot renew the lease, before the standby can take over", async () => {
    const { lease, story, a, b } = await pair();
    lease.unreachable.add("a");
    await until(() => b.role.isActive(), "b to take over");
    assert.equal(a.role.isActive(), false);
    assert.deepEqual(story, ["a takes over", "a stands down", "b takes over"]);
    lease.unreachable.delete("a");
    await Promise.all([a.role.stop(), b.role.stop()]);
  });

  it("stands down at once when a write is refused for a newer fencing token", async () => {
    const lease = new SharedLease();
    const story: string[] = [];
    const a = instance(lease, "a", story);
    await a.role.start();
    a.store.fenced();
    assert.equal(a.role.isActive(), false);
    await until(() => story.includes("a stands down"), "a to stand down");
    await a.role.stop();
  });

  it("gives the lease up when the takeover fails, and tries again", async () => {
    const lease = new SharedLease();
    const story: string[] = [];
    let attempts = 0;
    const a = instance(lease, "a", story, async () => {
      if (++attempts === 1) throw new Error("the XMPP server is away");
    });
    await a.role.start();
    assert.equal(a.role.isActive(), false);
    assert.equal(lease.holder, undefined);
    await until(() => a.role.isActive(), "a second takeover");
    assert.deepEqual(story, ["a takes over", "a stands down", "a takes over"]);
    await a.role.stop();
  });
});
