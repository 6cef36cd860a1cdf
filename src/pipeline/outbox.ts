import type { Logger } from "../log.js";
import type { BridgeStore } from "../store/store.js";

/** A failure that may pass (a server away, a link down): the entry stays at the head and is retried. */
export class TransientError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TransientError";
  }
}

/** Delivers one entry; throws TransientError to be retried, anything else drops the entry. */
export type EntryHandler = (lane: string, payload: string) => Promise<void>;

const FIRST_RETRY_MS = 500;
const LONGEST_RETRY_MS = 30_000;

/**
 * Drains the durable per-lane queues in Redis. Each lane (one room, one conversation) is drained by
 * at most one loop at a time, strictly in order; different lanes run concurrently. An entry leaves
 * the queue only after its handler finished, so a crash or a server away loses nothing.
 */
export class OutboxWorker {
  private readonly running = new Map<string, Promise<void>>();
  /** Lanes woken while their loop was finishing: run again so no wake-up is missed. */
  private readonly rewake = new Set<string>();
  private stopped = false;
  private readonly sleepers = new Set<() => void>();

  constructor(
    private readonly store: BridgeStore,
    private readonly handle: EntryHandler,
    private readonly log: Logger,
  ) {}

  /** Makes sure the lane is being drained. */
  wake(lane: string): void {
    if (this.stopped) return;
    if (this.running.has(lane)) {
      this.rewake.add(lane);
      return;
    }
    const loop = this.drain(lane)
      .catch((err: Error) => this.log.error({ lane, err: err.message }, "outbox loop failed"))
      .finally(() => {
        this.running.delete(lane);
        if (this.rewake.delete(lane)) this.wake(lane);
      });
    this.running.set(lane, loop);
  }

  /** After a restart: drain what earlier runs left behind. */
  async resume(): Promise<number> {
    const lanes = await this.store.pendingLanes();
    for (const lane of lanes) this.wake(lane);
    return lanes.length;
  }

  /** Number of lanes currently being drained (a gauge for metrics). */
  get activeLanes(): number {
    return this.running.size;
  }

  /** Waits until every lane is empty or blocked on a retry; for tests and shutdown. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const wakeUp of this.sleepers) wakeUp();
    await Promise.allSettled([...this.running.values()]);
  }

  private async drain(lane: string): Promise<void> {
    let retryDelay = FIRST_RETRY_MS;
    while (!this.stopped) {
      let payload: string | undefined;
      try {
        payload = await this.store.peekOutbox(lane);
      } catch (err) {
        this.log.warn({ lane, err: (err as Error).message }, "cannot read the outbox; retrying");
        await this.sleep(retryDelay);
        retryDelay = Math.min(retryDelay * 2, LONGEST_RETRY_MS);
        continue;
      }
      if (payload === undefined) return;
      try {
        await this.handle(lane, payload);
      } catch (err) {
        if (err instanceof TransientError) {
          this.log.warn({ lane, err: err.message, retryInMs: retryDelay }, "delivery failed for now; the entry waits at the head of its lane");
          await this.sleep(retryDelay);
          retryDelay = Math.min(retryDelay * 2, LONGEST_RETRY_MS);
          continue;
        }
        this.log.error({ lane, err: (err as Error).message, payload: payload.slice(0, 500) }, "dropping an entry that cannot be delivered");
      }
      retryDelay = FIRST_RETRY_MS;
      await this.removeHead(lane);
    }
  }

  private async removeHead(lane: string): Promise<void> {
    // Tried at least once even while stopping: a delivered entry left at the head is delivered twice.
    for (let delay = FIRST_RETRY_MS; ; delay = Math.min(delay * 2, LONGEST_RETRY_MS)) {
      try {
        await this.store.removeOutboxHead(lane);
        return;
      } catch (err) {
        this.log.warn({ lane, err: (err as Error).message }, "cannot remove a delivered entry; retrying");
        if (this.stopped) return;
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
