import type { MatrixInbound, MatrixInboundOf, XmppEvent } from "../core/model.js";
import { TransientError } from "./outbox.js";

export interface SenderLimitSettings {
  /** How many messages a sender's held lane passes on per minute; 0 for no limit. */
  messagesPerMinute: number;
  /** How many messages a sender may send at once before the limit applies. */
  burst: number;
}

/** At most this many senders' buckets are kept; the one used least recently goes first (it is the most likely full). */
const MAX_BUCKETS = 100_000;

/** What separates a held lane's room lane from its sender: no room ID, JID or conversation key holds a space. */
const HELD_BY = " held for ";

/**
 * The lane a sender's messages wait in once they are past the limit: beside their room's lane, so the
 * room's other senders go on, and named after both, so a restart finds it again.
 */
export const heldLane = (lane: string, sender: string): string => `${lane}${HELD_BY}${sender}`;
export const isHeldLane = (lane: string): boolean => lane.includes(HELD_BY);

interface Bucket {
  tokens: number;
  /** Up to when `tokens` was brought up to date (ms): the arrival time of a message, or now. */
  at: number;
  /** When it was last used: one unused for as long as it takes to fill up is forgotten. */
  usedAt: number;
  /** When its sender was last told that they are held. */
  toldAt?: number;
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

/**
 * The per-sender rate limit in a room: a token bucket per (room lane, sender), `burst` deep, filled at
 * `messagesPerMinute`. A sender whose bucket is empty is held: their next messages, in order, go into
 * their held lane, which passes them on one token at a time, while the room's lane goes on with
 * everyone else's. A sender stays held until their held lane is found empty, so their messages never
 * overtake each other. One timer serves every held lane; buckets of idle senders are forgotten (a
 * forgotten bucket is a full one).
 */
export class SenderLimits {
  private readonly buckets = new Map<string, Bucket>();
  /** Held lanes that may hold entries: their senders' next messages go there too. */
  private readonly held = new Set<string>();
  /** Held lanes with a copy on its way into them: not yet found empty for good. */
  private readonly arriving = new Map<string, number>();
  private readonly waiters = new Map<string, Waiter>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly perMs: number;

  constructor(private readonly settings: SenderLimitSettings, private readonly now: () => number = Date.now) {
    this.perMs = settings.messagesPerMinute / 60_000;
  }

  get enabled(): boolean {
    return this.settings.messagesPerMinute > 0;
  }

  /**
   * Where a message of `sender` at the head of `lane` goes: undefined to be delivered now (a token
   * taken), or the held lane it must wait in, with whether the sender was held just now (see
   * `shouldTell`). The caller moves it there, between `moving` and `moved`.
   * The bucket is filled by the message's arrival time (`arrivedAt`), not by the time it reaches the
   * head of its lane: what counts is how fast the sender wrote, not how fast the lane drains.
   */
  admit(lane: string, sender: string, arrivedAt: number): { heldLane: string; startsHolding: boolean } | undefined {
    if (!this.enabled) return undefined;
    const key = heldLane(lane, sender);
    if (this.held.has(key)) return { heldLane: key, startsHolding: false };
    if (this.take(key, arrivedAt)) return undefined;
    this.held.add(key);
    return { heldLane: key, startsHolding: true };
  }

  /**
   * Whether a sender held just now should be told: once per burst, so not again before their bucket
   * could have filled up since they last were (a held lane may empty and fill again within one flood).
   */
  shouldTell(held: string): boolean {
    const bucket = this.buckets.get(held);
    const now = this.now();
    if (bucket?.toldAt !== undefined && now - bucket.toldAt < this.settings.burst / this.perMs) return false;
    if (bucket) bucket.toldAt = now;
    return true;
  }

  /** A copy is on its way into the held lane: the sender stays held, whatever the lane looks like meanwhile. */
  moving(held: string): void {
    this.held.add(held);
    this.arriving.set(held, (this.arriving.get(held) ?? 0) + 1);
  }

  moved(held: string): void {
    const left = (this.arriving.get(held) ?? 1) - 1;
    if (left > 0) this.arriving.set(held, left);
    else this.arriving.delete(held);
  }

  /** A held lane found empty: its sender is free again, unless a copy is still on its way in. */
  drained(held: string): void {
    if (!this.arriving.has(held)) this.held.delete(held);
  }

  /** Held lanes left by an earlier run: their senders are held until those are drained. */
  restore(lanes: readonly string[]): void {
    for (const lane of lanes) if (isHeldLane(lane)) this.held.add(lane);
  }

  /** Resolves once the held lane's sender has a token; rejects with TransientError when stopping (the entry stays). */
  pace(held: string): Promise<void> {
    if (this.stopped) return Promise.reject(new TransientError("stopping"));
    if (!this.enabled || this.take(held)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.set(held, { resolve, reject });
      this.schedule();
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const waiter of this.waiters.values()) waiter.reject(new TransientError("stopping"));
    this.waiters.clear();
  }

  private take(key: string, at = this.now()): boolean {
    const bucket = this.refilled(key, at);
    const taken = bucket.tokens >= 1;
    if (taken) bucket.tokens -= 1;
    bucket.usedAt = this.now();
    // Most recently used last: the oldest buckets are the first to have filled up again.
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    this.forgetIdle();
    return taken;
  }

  /** The bucket filled up to `at`: never back in time, never past now (a sender's clock may be ahead). */
  private refilled(key: string, at = this.now()): Bucket {
    const bucket = this.buckets.get(key) ?? { tokens: this.settings.burst, at: -Infinity, usedAt: this.now() };
    const until = Math.max(bucket.at, Math.min(at, this.now()));
    bucket.tokens = Math.min(this.settings.burst, bucket.tokens + (until - bucket.at) * this.perMs);
    bucket.at = until;
    return bucket;
  }

  private forgetIdle(): void {
    const fullAfterMs = this.settings.burst / this.perMs;
    for (const [key, bucket] of this.buckets) {
      if (this.buckets.size <= MAX_BUCKETS && this.now() - bucket.usedAt < fullAfterMs) break;
      this.buckets.delete(key);
    }
  }

  /** One timer for every waiting held lane: it fires when the first of them has a token again. */
  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.waiters.size === 0) return;
    let soonest = Infinity;
    for (const key of this.waiters.keys()) soonest = Math.min(soonest, (1 - this.refilled(key).tokens) / this.perMs);
    this.timer = setTimeout(() => this.wakeWaiters(), Math.max(1, Math.ceil(soonest))).unref();
  }

  private wakeWaiters(): void {
    this.timer = undefined;
    for (const [key, waiter] of this.waiters) {
      if (!this.take(key)) continue;
      this.waiters.delete(key);
      waiter.resolve();
    }
    this.schedule();
  }
}

/** The Matrix events the rate limit counts: what a person writes. Typing, receipts and state pass. */
export type LimitedMatrixEvent = MatrixInboundOf<"message" | "reaction" | "redaction">;

/** The event, when the rate limit counts it: by a person, not by the bridge's own users. */
export function limitedMatrixSender(event: MatrixInbound, isOwnUser: ((userId: string) => boolean) | undefined): LimitedMatrixEvent | undefined {
  if (event.kind !== "message" && event.kind !== "reaction" && event.kind !== "redaction") return undefined;
  return isOwnUser?.(event.sender) ? undefined : event;
}

/** Who wrote an XMPP event the rate limit counts: messages with something in them, not chat states or markers. */
export function limitedXmppSender(event: XmppEvent): string | undefined {
  if (event.kind !== "message") return undefined;
  const { message } = event;
  const written = message.body !== "" || message.files?.length || message.replaces || message.retracts || message.reactions;
  if (!written) return undefined;
  const from = message.conversation;
  // The occupant's key, not the real JID a room may reveal only later: one occupant, one bucket.
  return from.kind === "muc" ? from.occupantKey : from.xmppUser;
}
