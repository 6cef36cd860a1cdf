import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import type { Logger } from "../../log.js";
import type { OutboxEntry } from "../store.js";
import { FENCE, type Fencing } from "./fencing.js";
import type { RedisKeys } from "./keys.js";

/** How long a transaction ID is remembered: far longer than any homeserver retries one. */
const TRANSACTION_TTL_SECONDS = 7 * 24 * 3600;

/** How long an announced append keeps its lane in the index if the appender died before it was made. */
const APPEND_INTENT_SECONDS = 24 * 3600;

/**
 * Appends ARGV[2..] to the outbox KEYS[1], unless KEYS[3] (when given: a transaction ID, a dedup key) is
 * set already; it is set, for ARGV[1] seconds, with the append, atomically. Then ends the append's intent
 * (KEYS[2], counted up before the lane was put in the index). 1 if appended, else 0.
 */
const APPEND = `
local appended = 0
if #KEYS < 3 or redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[1]) then
  for i = 2, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
  appended = 1
end
if redis.call('DECR', KEYS[2]) <= 0 then redis.call('DEL', KEYS[2]) end
return appended`;

/** The outbox KEYS[2]'s oldest ARGV[2] entries, read by the active instance (which claims the lane). */
const PEEK = `${FENCE}
return redis.call('LRANGE', KEYS[2], 0, tonumber(ARGV[2]) - 1)`;

/**
 * Trims the head of an outbox if it still holds the entries given by their SHA-1 digests, else nothing.
 * KEYS[2] = the outbox; ARGV[2..] = the digests, oldest first. A removal sent again (ioredis resends what
 * was unanswered when the connection broke; the worker retries a removal that failed) then removes nothing more.
 */
const REMOVE_HEAD = `${FENCE}
local count = #ARGV - 1
local head = redis.call('LRANGE', KEYS[2], 0, count - 1)
if #head < count then return 0 end
for i = 1, count do
  if redis.sha1hex(head[i]) ~= ARGV[i + 1] then return 0 end
end
redis.call('LTRIM', KEYS[2], count, -1)
return 1`;

/** How many entries the outbox KEYS[1] holds; -1 when it is empty but an append (KEYS[2]) is under way. */
const LANE_USE = `
local length = redis.call('LLEN', KEYS[1])
if length == 0 and redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
return length`;

const sha1 = (text: string): string => createHash("sha1").update(text).digest("hex");

/**
 * The outboxes: one list per lane, in the lane's slot, and the index of lanes that may hold entries
 * (`outboxes`), in another. No command spans both, so the order of the steps keeps the index right: an
 * append announces itself in the lane's slot, puts the lane in the index, then appends; a lane found empty
 * leaves the index only through `outboxes:forgetting`, and goes back if an append is under way or made.
 * A crash anywhere leaves a lane in the index without entries (dropped at the next look), never the reverse.
 */
export class RedisOutboxes {
  /** One look over the lanes at a time: two would forget a lane in each other's way. */
  private look: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly fencing: Fencing,
    private readonly log: Logger,
  ) {}

  /**
   * Accepts a homeserver transaction: once per lane, so that a transaction sent again after it was stored
   * in some lanes and not others (a crash between them) is completed, not stored twice.
   */
  async acceptTransaction(txnId: string, entries: readonly OutboxEntry[]): Promise<boolean> {
    // Accepted by a bridge that kept transactions in one key (before docs/store.md's migration): all of it was stored.
    if (await this.redis.exists(this.keys.key("txn", txnId))) return false;
    const byLane = new Map<string, string[]>();
    for (const { lane, payload } of entries) byLane.set(lane, [...(byLane.get(lane) ?? []), payload]);
    const appended = await Promise.all([...byLane].map(([lane, payloads]) => this.append(lane, payloads, this.keys.transaction(lane, txnId), TRANSACTION_TTL_SECONDS)));
    return appended.length === 0 || appended.some((a) => a);
  }

  async appendToOutbox(entry: OutboxEntry): Promise<void> {
    await this.append(entry.lane, [entry.payload]);
  }

  appendToOutboxOnce(entry: OutboxEntry, onceKey: string, ttlSeconds: number): Promise<boolean> {
    return this.append(entry.lane, [entry.payload], this.keys.once(entry.lane, onceKey), Math.ceil(ttlSeconds));
  }

  /** Announces the append in the lane's slot, lists the lane, then appends (see the class). */
  private async append(lane: string, payloads: readonly string[], onceKey?: string, ttlSeconds = 0): Promise<boolean> {
    const intent = this.keys.appending(lane);
    await this.redis.multi().incr(intent).expire(intent, APPEND_INTENT_SECONDS).exec();
    await this.redis.sadd(this.keys.lanes, lane);
    const keys = [this.keys.outbox(lane), intent, ...(onceKey === undefined ? [] : [onceKey])];
    return (await this.redis.eval(APPEND, keys.length, ...keys, String(ttlSeconds), ...payloads)) === 1;
  }

  async peekOutbox(lane: string, count: number): Promise<string[]> {
    if (!this.fencing.active) return this.redis.lrange(this.keys.outbox(lane), 0, count - 1);
    return (await this.fencing.run("reading an outbox", PEEK, this.keys.claim(lane), [this.keys.outbox(lane)], [String(count)])) as string[];
  }

  async removeFromOutbox(lane: string, payloads: readonly string[]): Promise<void> {
    if (payloads.length === 0) return;
    const removed = await this.fencing.run("removing delivered entries", REMOVE_HEAD, this.keys.claim(lane), [this.keys.outbox(lane)], payloads.map(sha1));
    if (removed !== 1) this.log.debug({ lane, count: payloads.length }, "the outbox's head was already removed");
  }

  pendingLanes(): Promise<string[]> {
    const look = this.look.then(() => this.lookOverLanes());
    this.look = look.catch(() => undefined);
    return look;
  }

  /** The lanes that hold entries; lanes found empty leave the index, those half forgotten go back. */
  private async lookOverLanes(): Promise<string[]> {
    const [listed, forgetting] = await Promise.all([this.redis.smembers(this.keys.lanes), this.redis.smembers(this.keys.lanesBeingForgotten)]);
    const pending: string[] = [];
    for (const lane of new Set([...listed, ...forgetting])) {
      const use = await this.laneUse(lane);
      if (use > 0) pending.push(lane);
      if (use === 0) await this.forget(lane);
      else if (forgetting.includes(lane)) await this.relist(lane);
    }
    return pending;
  }

  private async laneUse(lane: string): Promise<number> {
    return Number(await this.redis.eval(LANE_USE, 2, this.keys.outbox(lane), this.keys.appending(lane)));
  }

  private async forget(lane: string): Promise<void> {
    await this.redis.sadd(this.keys.lanesBeingForgotten, lane);
    await this.redis.srem(this.keys.lanes, lane);
    // An append announced before the removal from the index, or made since the look: the lane stays listed.
    if ((await this.laneUse(lane)) !== 0) await this.redis.sadd(this.keys.lanes, lane);
    await this.redis.srem(this.keys.lanesBeingForgotten, lane);
  }

  /** A lane left half forgotten (a crash while it was): listed again, since it is in use. */
  private async relist(lane: string): Promise<void> {
    await this.redis.sadd(this.keys.lanes, lane);
    await this.redis.srem(this.keys.lanesBeingForgotten, lane);
  }

  async outboxDepths(): Promise<Map<string, number>> {
    const lanes = await this.redis.smembers(this.keys.lanes);
    const lengths = await Promise.all(lanes.map((lane) => this.redis.llen(this.keys.outbox(lane))));
    return new Map(lanes.map((lane, i) => [lane, lengths[i]!]));
  }

  async outboxHeads(): Promise<Map<string, string>> {
    const lanes = await this.redis.smembers(this.keys.lanes);
    const heads = await Promise.all(lanes.map((lane) => this.redis.lindex(this.keys.outbox(lane), 0)));
    return new Map(lanes.flatMap((lane, i) => (heads[i] === null ? [] : [[lane, heads[i]!]])));
  }
}
