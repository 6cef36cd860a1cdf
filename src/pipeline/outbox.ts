import type { Logger } from "../log.js";
import { FencedError } from "../store/lease.js";
import type { BridgeStore } from "../store/store.js";

/** A failure that may pass (a server away, the component connection down): the entry stays at the head and is retried. */
export class TransientError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TransientError";
  }
}

/** Delivers one entry; throws TransientError to be retried, anything else drops the entry. */
export type EntryHandler = (lane: string, payload: string) => Promise<void>;

/**
 * For lanes whose deliveries are written to a stream without answers (XMPP): called before an entry is
 * handled, it returns what resolves once everything the handler wrote has been read at the other end,
 * and rejects when it may be lost. Undefined where a delivery's own answer proves it (the homeserver).
 */
export type DeliveryCheck = (lane: string) => (() => Promise<void>) | undefined;

export interface OutboxWorkerDeps {
  store: BridgeStore;
  handle: EntryHandler;
  deliveryCheck?: DeliveryCheck;
  /** Told of each entry dropped because it cannot be delivered (never of one kept for a retry), so its sender may learn why. */
  dropped?: (lane: string, payload: string, err: unknown) => Promise<void>;
  /** Told when a lane's loop found it empty. */
  drained?: (lane: string) => void;
  log: Logger;
}

const FIRST_RETRY_MS = 500;
const LONGEST_RETRY_MS = 30_000;
/** Entries read from a lane at once. */
const BATCH_SIZE = 50;

/**
 * Drains the durable per-lane queues in Redis. Each lane (one room, one conversation) is drained by
 * at most one loop at a time, strictly in order; different lanes run concurrently. An entry leaves
 * its queue only once its handler finished and the delivery check confirmed what it wrote, so a crash,
 * a server away or a stream that broke loses nothing. Into Matrix, where a transaction ID makes a second
 * send harmless, removals are awaited beside the deliveries, not before the next one; into XMPP, an entry
 * leaves its lane before the next one is written, so that a crash or a broken stream sends at most one
 * entry again.
 */
export class OutboxWorker {
  private readonly running = new Map<string, Promise<void>>();
  /** Lanes woken while their loop was finishing: run again so no wake-up is missed. */
  private readonly rewake = new Set<string>();
  private stopped = false;
  /**
   * Nothing is drained until resume(): not before the instance has taken over, its homeserver client and
   * component connection started (an entry handled before that fails and is dropped), nor on standby.
   * The store's coming up, a wake-up, an append wait for it.
   */
  private paused = true;
  private readonly sleepers = new Set<() => void>();

  constructor(private readonly deps: OutboxWorkerDeps) {}

  private get halted(): boolean {
    return this.stopped || this.paused;
  }

  /** Makes sure the lane is being drained. */
  wake(lane: string): void {
    if (this.halted) return;
    if (this.running.has(lane)) {
      this.rewake.add(lane);
      return;
    }
    const loop = this.drain(lane)
      .catch((err: unknown) => this.deps.log.error({ lane, err }, "outbox loop failed"))
      .finally(() => {
        this.running.delete(lane);
        if (this.rewake.delete(lane)) this.wake(lane);
      });
    this.running.set(lane, loop);
  }

  /** Ends every wait for a retry now: the store or a server is back, no need to sit out the delay. */
  retryNow(): void {
    for (const wakeUp of this.sleepers) wakeUp();
  }

  /** After a restart, or a pause: drain what earlier runs (or other instances) left behind. */
  async resume(): Promise<number> {
    this.paused = false;
    return this.wakePending();
  }

  /**
   * Drains every lane that holds entries, unless paused: after an outage of the store, or entries another
   * instance appended. The number of such lanes.
   */
  async wakePending(): Promise<number> {
    if (this.halted) return 0;
    const lanes = await this.deps.store.pendingLanes();
    for (const lane of lanes) this.wake(lane);
    return lanes.length;
  }

  /** Stops draining until resume(): each lane ends after the entry it is delivering. Resolves once they all ended. */
  async pause(): Promise<void> {
    this.paused = true;
    await this.settle();
  }

  /** Waits until every lane is empty or blocked on a retry; for tests and shutdown. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.settle();
  }

  private async settle(): Promise<void> {
    for (const wakeUp of this.sleepers) wakeUp();
    await Promise.allSettled([...this.running.values()]);
  }

  private async drain(lane: string): Promise<void> {
    const { store, log } = this.deps;
    let retryDelay = FIRST_RETRY_MS;
    while (!this.halted) {
      let batch: string[];
      try {
        batch = await store.peekOutbox(lane, BATCH_SIZE);
      } catch (err) {
        // Another instance is active and drains this lane: this one is stepping down.
        if (err instanceof FencedError) return;
        log.warn({ lane, err }, "cannot read the outbox; retrying");
        await this.sleep(retryDelay);
        retryDelay = Math.min(retryDelay * 2, LONGEST_RETRY_MS);
        continue;
      }
      if (batch.length === 0) {
        this.deps.drained?.(lane);
        return;
      }
      const failure = await this.deliverBatch(lane, batch);
      if (!failure) {
        retryDelay = FIRST_RETRY_MS;
        continue;
      }
      log.warn({ lane, err: failure, retryInMs: retryDelay }, "delivery failed for now; the entry waits at the head of its lane");
      await this.sleep(retryDelay);
      retryDelay = Math.min(retryDelay * 2, LONGEST_RETRY_MS);
    }
  }

  /**
   * Hands the entries to the handler in order until one fails for now. Each stays at the head of its
   * lane until the delivery check confirmed it, so that neither a broken stream nor a crash can lose
   * it; confirmed entries are removed in order as confirmations come in (one at a time where there is
   * a delivery check, see the class's comment). Resolves once that is done,
   * with the failure that stopped the batch, if any: what is left in the lane is delivered again.
   */
  private async deliverBatch(lane: string, batch: readonly string[]): Promise<TransientError | undefined> {
    const { store, handle, deliveryCheck, log } = this.deps;
    const removals = new InOrderRemoval((from, count) => this.removeDelivered(lane, batch.slice(from, from + count)));
    let failure: TransientError | undefined;
    for (const payload of batch) {
      if (this.halted || removals.lost !== undefined) break;
      const confirm = deliveryCheck?.(lane);
      try {
        await handle(lane, payload);
      } catch (err) {
        if (err instanceof TransientError) {
          failure = err;
          break;
        }
        // Another instance is active: the entry is its to deliver.
        if (err instanceof FencedError) {
          failure = new TransientError("another instance is active", { cause: err });
          break;
        }
        // With the store away, whatever failed may have failed for that alone: retried, never dropped.
        if (!store.isAvailable()) {
          failure = new TransientError("the store is unavailable", { cause: err });
          break;
        }
        // The payload holds message bodies: only at debug level.
        log.error({ lane, err }, "dropping an entry that cannot be delivered");
        log.debug({ lane, payload: payload.slice(0, 500) }, "the dropped entry");
        await this.tellDropped(lane, payload, err);
      }
      removals.add(confirm ? confirm() : Promise.resolve());
      // Entries written but still in their lane are what a crash sends again: never more than one.
      if (confirm) await removals.done();
    }
    const lost = await removals.done();
    if (lost === undefined) return failure;
    log.warn({ lane, err: lost }, "the stream broke before the server confirmed what it was sent; it is delivered again");
    return new TransientError("delivery not confirmed", { cause: lost });
  }

  private async tellDropped(lane: string, payload: string, err: unknown): Promise<void> {
    try {
      await this.deps.dropped?.(lane, payload, err);
    } catch (failure) {
      this.deps.log.warn({ lane, err: failure }, "could not tell the sender that an entry was dropped");
    }
  }

  private async removeDelivered(lane: string, payloads: readonly string[]): Promise<void> {
    // Tried at least once even while stopping: a delivered entry left in the lane is delivered twice.
    for (let delay = FIRST_RETRY_MS; ; delay = Math.min(delay * 2, LONGEST_RETRY_MS)) {
      try {
        await this.deps.store.removeFromOutbox(lane, payloads);
        return;
      } catch (err) {
        // Fenced, the removal is another instance's to make, once it delivered the entries again.
        if (err instanceof FencedError) return;
        this.deps.log.warn({ lane, err }, "cannot remove delivered entries; retrying");
        if (this.halted) return;
        await this.sleep(delay);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wakeUp = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wakeUp);
        resolve();
      };
      const timer = setTimeout(wakeUp, ms);
      this.sleepers.add(wakeUp);
    });
  }
}

/**
 * Removes a batch's entries from the head of their lane as their confirmations come in, in order:
 * those confirmed together go in one removal. Once one confirmation fails, nothing after it is removed.
 */
class InOrderRemoval {
  /** Why the first confirmation failed. */
  lost: unknown;
  private added = 0;
  /** Entries confirmed without a gap from the first one: only those may leave the lane. */
  private confirmed = 0;
  private readonly confirmedOutOfTurn = new Set<number>();
  private removed = 0;
  private chain = Promise.resolve();
  private fail: () => void = () => undefined;
  /** Settles at the first failure: what comes after it is not waited for. */
  private readonly failed = new Promise<void>((resolve) => (this.fail = resolve));

  /** `remove(from, count)`: the entries at those positions of the batch, now at the head of their lane. */
  constructor(private readonly remove: (from: number, count: number) => Promise<void>) {}

  add(confirmation: Promise<void>): void {
    const position = ++this.added;
    const settled = confirmation.then(
      () => {
        if (this.lost !== undefined) return;
        this.confirmedOutOfTurn.add(position);
        while (this.confirmedOutOfTurn.delete(this.confirmed + 1)) this.confirmed++;
      },
      (err: unknown) => {
        this.lost ??= err;
        this.fail();
      },
    );
    this.chain = this.chain.then(async () => {
      await Promise.race([settled, this.failed]);
      if (this.confirmed < position || this.removed >= position) return;
      const count = this.confirmed - this.removed;
      await this.remove(this.removed, count);
      this.removed += count;
    });
  }

  /** Resolves once every confirmed entry is removed; with the failure, if a confirmation failed. */
  async done(): Promise<unknown> {
    await this.chain;
    return this.lost;
  }
}
