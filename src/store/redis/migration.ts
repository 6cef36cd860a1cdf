import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import type { Logger } from "../../log.js";
import type { RedisKeys } from "./keys.js";

/**
 * Moves data from the key names of the first layout (before hash tags, docs/store.md) to the present
 * ones, at start. Each move is one script on the old and the new key, so a crash or a second instance
 * starting at once leaves every piece under one name or the other, never both, never lost; a move whose
 * old key is gone does nothing. Once all is moved, `layout` says so and later starts skip the scan of the
 * keyspace; the outboxes are looked for at every start (in the index of lanes, which the earlier version
 * kept exact), so entries an instance of it still wrote after the move are not stranded.
 * Runs on one Redis (the layout can only be old there), so a script may span slots here.
 */

/** The layout this version writes. */
const LAYOUT = "hash-slots";

/** KEYS[1] = an old outbox, KEYS[2] = the new one, KEYS[3] = its append intent: the old entries go in front (they are older). */
const MOVE_LIST = `
local entries = redis.call('LRANGE', KEYS[1], 0, -1)
for i = #entries, 1, -1 do redis.call('LPUSH', KEYS[2], entries[i]) end
redis.call('DEL', KEYS[1])
if redis.call('DECR', KEYS[3]) <= 0 then redis.call('DEL', KEYS[3]) end
return #entries`;

/** KEYS[1] = an old key, KEYS[2] = its new name (its TTL goes with it); a value already there is newer and kept. */
const MOVE_KEY = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('DEL', KEYS[1]) else redis.call('RENAME', KEYS[1], KEYS[2]) end
return 1`;

/** KEYS[1] = the old newest fencing token, KEYS[2] = the new one, which never goes down. */
const MOVE_TOKEN = `
local old = tonumber(redis.call('GET', KEYS[1]) or '0')
if old > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], old) end
return redis.call('DEL', KEYS[1])`;

/**
 * The conversation of an old dedup key, `<conversation>:sid:...`, `:oid:...` or `:id:...`: a MUC's JID
 * (colons only inside an IPv6 literal), or `dm:<jid>:<matrix user>`, whose server name may have a port.
 */
const OLD_DEDUP_KEY = /^(dm:.*?:@[^:]*:(?:\[[^\]]*\]|[^:]*)(?::\d+)?|[^:[]*(?:\[[^\]]*\][^:]*)?):(?:sid|oid|id):/;

/** The old name of a held copy's once-key: the SHA-1 of the room's lane and the entry (src/pipeline/ingress.ts). */
const heldCopyKey = (roomLane: string, payload: string): string => `held:${createHash("sha1").update(roomLane).update("\n").update(payload).digest("base64url")}`;

const globEscape = (text: string): string => text.replace(/[*?[\]\\]/g, "\\$&");

interface Counts {
  lanes: number;
  entries: number;
  onceKeys: number;
  messageIds: number;
  /** Old keys whose new name this instance could not tell: left to expire (or moved by another instance starting at once). */
  left: number;
}

export async function migrateLayout(redis: Redis, keys: RedisKeys, log: Logger): Promise<void> {
  const done = (await redis.get(keys.layout)) === LAYOUT;
  const lanes = await oldLanes(redis, keys);
  if (done && lanes.size === 0) return;
  const counts: Counts = { lanes: 0, entries: 0, onceKeys: 0, messageIds: 0, left: 0 };
  if (!done) {
    await redis.eval(MOVE_TOKEN, 2, keys.key("lease", "token"), keys.leaseToken);
    await moveOnceKeys(redis, keys, lanes, counts);
  }
  for (const [lane] of lanes) {
    const intent = keys.appending(lane);
    // Announced and listed before the move, as an append is (src/store/redis/outboxes.ts).
    await redis.multi().incr(intent).expire(intent, 24 * 3600).exec();
    await redis.sadd(keys.lanes, lane);
    const moved = Number(await redis.eval(MOVE_LIST, 3, keys.key("outbox", lane), keys.outbox(lane), intent));
    counts.lanes += moved > 0 ? 1 : 0;
    counts.entries += moved;
  }
  if (!done) await moveMessageIds(redis, keys, counts);
  await redis.set(keys.layout, LAYOUT);
  log.info(counts, "moved the data to the present key layout");
}

async function* scan(redis: Redis, pattern: string): AsyncGenerator<string[]> {
  let cursor = "0";
  do {
    const [next, found] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    if (found.length > 0) yield found;
  } while (cursor !== "0");
}

/** The outboxes under their old names (`outbox:<lane>`), and their entries: each is in the index of lanes. */
async function oldLanes(redis: Redis, keys: RedisKeys): Promise<Map<string, string[]>> {
  const lanes = new Map<string, string[]>();
  for (const lane of await redis.smembers(keys.lanes)) {
    const entries = await redis.lrange(keys.key("outbox", lane), 0, -1);
    if (entries.length > 0) lanes.set(lane, entries);
  }
  return lanes;
}

/**
 * Dedup keys go to their lane's slot. An XMPP message's lane is its conversation's; a held copy's is the
 * held lane whose entry it copied from a room's lane that still holds it (once that entry left the room's
 * lane, its key guards nothing more).
 */
async function moveOnceKeys(redis: Redis, keys: RedisKeys, lanes: Map<string, string[]>, counts: Counts): Promise<void> {
  const prefix = keys.key("once", "");
  const heldCopies = new Map<string, string>();
  for (const [lane, payloads] of lanes) {
    for (const roomLane of lanes.keys()) {
      if (roomLane !== lane && lane.startsWith(roomLane)) for (const payload of payloads) heldCopies.set(heldCopyKey(roomLane, payload), lane);
    }
  }
  for await (const found of scan(redis, `${globEscape(prefix)}*`)) {
    for (const key of found) {
      const onceKey = key.slice(prefix.length);
      if (onceKey.startsWith("{")) continue;
      const conversation = OLD_DEDUP_KEY.exec(onceKey)?.[1];
      const lane = conversation === undefined ? heldCopies.get(onceKey) : `xmpp:${conversation}`;
      if (lane === undefined) counts.left++;
      else counts.onceKeys += Number(await redis.eval(MOVE_KEY, 2, key, keys.once(lane, onceKey)));
    }
  }
}

/** `msg:xmpp:<conversation>:<id>` → `msg:xmpp:{<conversation>}:<id>`: the conversation is read from the entry of its event. */
async function moveMessageIds(redis: Redis, keys: RedisKeys, counts: Counts): Promise<void> {
  const prefix = keys.key("msg", "xmpp", "");
  for await (const found of scan(redis, `${globEscape(prefix)}*`)) {
    const eventIds = await Promise.all(found.map((key) => redis.get(key)));
    const entries = await Promise.all(eventIds.map((eventId) => (eventId === null ? null : redis.get(keys.matrixMessage(eventId)))));
    await Promise.all(
      found.map(async (key, i) => {
        // Moved meanwhile by another instance starting at once.
        if (eventIds[i] === null) return;
        const conversation = conversationOf(entries[i] ?? null);
        const oldPrefix = `${prefix}${conversation}:`;
        if (conversation === undefined || !key.startsWith(oldPrefix)) {
          // A new name, or an id whose entry expired first: nothing to move.
          if (conversation === undefined) counts.left++;
          return;
        }
        // Read after the move, not before it (as `+= await` would): the moves of a batch run at once.
        const moved = Number(await redis.eval(MOVE_KEY, 2, key, keys.xmppMessage(conversation, key.slice(oldPrefix.length))));
        counts.messageIds += moved;
      }),
    );
  }
}

function conversationOf(json: string | null): string | undefined {
  if (json === null) return undefined;
  try {
    const conversation = (JSON.parse(json) as { conversation?: unknown }).conversation;
    return typeof conversation === "string" ? conversation : undefined;
  } catch {
    return undefined;
  }
}
