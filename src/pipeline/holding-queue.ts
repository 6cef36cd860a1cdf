import { InputRefusedError } from "../core/errors.js";
import type { Logger } from "../log.js";

/** Input on its way into its lane's outbox. */
export interface LaneInput {
  readonly lane: string;
  /**
   * Copies with one key are one input (a MUC sends each message to every puppet): a copy of an input
   * still waiting here is dropped at once, as the store would drop it.
   */
  readonly dedupKey?: string;
  /** What it costs in memory while it waits, counted against maxBytes. */
  readonly bytes: number;
}

export interface HoldingQueueOptions<T extends LaneInput> {
  /** Puts the input where it is safe (its outbox in the store); rejects while the store is away. */
  store(input: T): Promise<void>;
  /** At most this many inputs, and this many bytes, wait at once; past that, input is refused. */
  maxItems: number;
  maxBytes: number;
  log: Logger;
}

interface Waiting<T> {
  readonly input: T;
  /** It waited for the store to come back. */
  held: boolean;
  /** Resolves the offer: the input is stored, or held until it can be. */
  settle(): void;
}

/** What happened while the store was away, for the one line logged when it is over. */
interface Outage {
  readonly since: number;
  held: number;
  refused: number;
  peak: number;
}

const FIRST_RETRY_MS = 250;
const LONGEST_RETRY_MS = 5000;

/**
 * Stands in front of the store for input that cannot be asked again (what the XMPP server sends is
 * not resent): each input goes into the store in its lane's order, one at a time per lane. While the
 * store is away, input waits here, in memory, in order; one loop retries with growing delays (or at
 * once when told the store is back) and, once the store takes the oldest waiting input, every lane
 * drains again. Past maxItems or maxBytes, input is refused (InputRefusedError) rather than dropped
 * in silence. One line is logged when holding starts, one when all that was held is stored.
 */
export class HoldingQueue<T extends LaneInput> {
  private readonly lanes = new Map<string, Waiting<T>[]>();
  private readonly keys = new Set<string>();
  private readonly pumping = new Set<string>();
  private count = 0;
  private bytes = 0;
  private holding = false;
  private outage: Outage | undefined;
  private retrying = false;
  private stopped = false;
  private wakeRetry: (() => void) | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: HoldingQueueOptions<T>) {}

  /** How many inputs wait (or are on their way into the store). */
  get size(): number {
    return this.count;
  }

  /** Whether input waits for the store to come back. */
  get isHolding(): boolean {
    return this.holding;
  }

  /**
   * Resolves once the input is in the store, or held until the store takes it; rejects with
   * InputRefusedError when too much is held already.
   */
  offer(input: T): Promise<void> {
    if (input.dedupKey !== undefined && this.keys.has(input.dedupKey)) return Promise.resolve();
    if (this.count + 1 > this.options.maxItems || this.bytes + input.bytes > this.options.maxBytes) {
      this.refused();
      return Promise.reject(new InputRefusedError());
    }
    return new Promise((resolve) => {
      const waiting = { input, held: this.holding, settle: resolve };
      const lane = this.lanes.get(input.lane);
      if (lane) lane.push(waiting);
      else this.lanes.set(input.lane, [waiting]);
      if (input.dedupKey !== undefined) this.keys.add(input.dedupKey);
      this.count++;
      this.bytes += input.bytes;
      if (this.outage) this.outage.peak = Math.max(this.outage.peak, this.count);
      if (this.holding) resolve();
      else this.pump(input.lane);
    });
  }

  /** The store is back: retry now rather than after the current delay. */
  retryNow(): void {
    this.wakeRetry?.();
  }

  /**
   * Lets what is on its way into the store get there; what waits for the store to come back is lost
   * with the process, and the log says how much.
   */
  async stop(): Promise<void> {
    while (this.count > 0 && !this.holding) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.stopped = true;
    this.wakeRetry?.();
    if (this.count > 0) this.options.log.error({ lost: this.count }, "stopping while XMPP input waits for the store: it is lost");
  }

  private pump(lane: string): void {
    if (this.holding || this.pumping.has(lane)) return;
    this.pumping.add(lane);
    void this.drainLane(lane);
  }

  private async drainLane(lane: string): Promise<void> {
    try {
      while (!this.holding) {
        const head = this.lanes.get(lane)?.[0];
        if (!head) return;
        try {
          await this.options.store(head.input);
        } catch (err) {
          this.hold(err);
          return;
        }
        this.stored(lane);
      }
    } finally {
      this.pumping.delete(lane);
    }
  }

  /** The head of the lane is in the store. */
  private stored(lane: string): void {
    const waiting = this.lanes.get(lane)!;
    const head = waiting.shift()!;
    if (waiting.length === 0) this.lanes.delete(lane);
    if (head.input.dedupKey !== undefined) this.keys.delete(head.input.dedupKey);
    this.count--;
    this.bytes -= head.input.bytes;
    head.settle();
    if (head.held && this.outage) this.outage.held++;
    this.noteDrained();
  }

  private noteDrained(): void {
    if (this.count === 0 && !this.holding && this.outage) {
      const { since, held, refused, peak } = this.outage;
      this.outage = undefined;
      this.options.log.info({ held, refused, mostWaiting: peak, ms: Date.now() - since }, "the store is back: the XMPP input held meanwhile is stored, in order");
    }
    this.checkIdle();
  }

  private hold(err: unknown): void {
    if (this.holding) return;
    this.holding = true;
    if (!this.outage) {
      this.outage = { since: Date.now(), held: 0, refused: 0, peak: this.count };
      this.options.log.warn({ err, waiting: this.count }, "the store is away: XMPP input is held in memory, in order, until it is back");
    }
    for (const waiting of this.lanes.values()) {
      for (const w of waiting) {
        w.held = true;
        w.settle();
      }
    }
    this.checkIdle();
    if (!this.retrying && !this.stopped) void this.retry();
  }

  private refused(): void {
    const first = !this.outage || this.outage.refused === 0;
    this.outage ??= { since: Date.now(), held: 0, refused: 0, peak: this.count };
    this.outage.refused++;
    if (first) this.options.log.warn({ waiting: this.count, bytes: this.bytes }, "too much XMPP input is held: more is refused, its senders told to try again later");
  }

  /** The one retry loop: tries the oldest lane's head until the store takes it, then lets every lane drain. */
  private async retry(): Promise<void> {
    this.retrying = true;
    let delay = FIRST_RETRY_MS;
    try {
      while (this.holding && !this.stopped) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => this.wakeRetry?.(), delay);
          this.wakeRetry = () => {
            clearTimeout(timer);
            this.wakeRetry = undefined;
            resolve();
          };
        });
        delay = Math.min(delay * 2, LONGEST_RETRY_MS);
        if (this.stopped) return;
        if (this.count === 0) {
          this.holding = false;
          this.noteDrained();
          return;
        }
        // Not a lane whose head is still on its way from before: it would be stored twice.
        const lane = [...this.lanes.keys()].find((l) => !this.pumping.has(l));
        const waiting = lane === undefined ? undefined : this.lanes.get(lane);
        if (lane === undefined || !waiting) continue;
        try {
          await this.options.store(waiting[0]!.input);
        } catch {
          continue;
        }
        this.holding = false;
        this.stored(lane);
        for (const next of [...this.lanes.keys()]) this.pump(next);
      }
    } finally {
      this.retrying = false;
    }
  }

  private checkIdle(): void {
    if (this.count > 0 && !this.holding) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
