import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import type { Logger } from "../log.js";
import type { Link } from "../core/model.js";
import { FencedError, type LeaseStore } from "./lease.js";
import type { BridgeStore, GhostProfileState, MatrixAvatarInfo, MessageMapEntry, OutboxEntry, PresenceSubscription, PuppetOccupancy, ReactionEntry } from "./store.js";

/** How long a transaction ID is remembered: far longer than any homeserver retries one. */
const TRANSACTION_TTL_SECONDS = 7 * 24 * 3600;

/**
 * Appends entries unless a key is already set (a transaction ID, a message's dedup key), atomically.
 * KEYS[1] = that key, KEYS[2] = pending-lanes set, KEYS[3..] = outbox lists;
 * ARGV[1] = TTL, ARGV[2..] = payloads (one per outbox key), ARGV[n+2..] = lane names.
 * Atomic, so a transaction is either wholly queued and remembered, or not at all.
 */
const APPEND_ONCE = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
local n = #KEYS - 2
for i = 1, n do
  redis.call('RPUSH', KEYS[i + 2], ARGV[i + 1])
  redis.call('SADD', KEYS[2], ARGV[n + i + 1])
end
return 1`;

/**
 * The start of each script whose write only the active instance may make: KEYS[1] = the newest fencing
 * token, ARGV[1] = the writer's ("" when it runs without a lease). Returns -1, writing nothing, when
 * another instance took the lease since the writer got its token.
 */
const FENCE = `
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end`;

/** What a fenced script answers when its writer's token is no longer the newest. */
const FENCED = -1;

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

/** Sets KEYS[2..] to ARGV[3..], each expiring after ARGV[2] seconds. */
const SET_ALL = `${FENCE}
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 1], 'EX', ARGV[2])
end
return 1`;

/**
 * Takes the lease unless it is held: KEYS[1] = the lease, KEYS[2] = the newest fencing token; ARGV[1] =
 * the holder, ARGV[2] = its time to live (ms). The lease holds the holder and its token, so a renewal
 * proves both. Returns the new token, or 0 when the lease is held.
 */
const ACQUIRE_LEASE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. token, 'PX', ARGV[2])
return token`;

/** Extends the lease (ARGV[2] ms) if KEYS[1] still holds ARGV[1], the holder and its token: 1, else 0. */
const RENEW_LEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

/** Deletes the lease if KEYS[1] still holds ARGV[1], the holder and its token. */
const RELEASE_LEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])`;

/**
 * Drops a lane from the index of lanes that may hold entries (KEYS[1], member ARGV[1]) if its outbox
 * (KEYS[2]) is still empty: an append between a look and the removal (another instance's) keeps it listed.
 */
const FORGET_EMPTY_LANE = `
if redis.call('LLEN', KEYS[2]) == 0 then redis.call('SREM', KEYS[1], ARGV[1]) end
return 1`;

/**
 * A link by one of its other keys, in one round trip rather than two: KEYS[1] = `link:muc:…` or
 * `link:dm:…` (which hold a room ID); ARGV[1] = the prefix of `link:room:` keys. Returns the link's JSON.
 */
const LINK_BY_ROOM_OF = `
local roomId = redis.call('GET', KEYS[1])
if not roomId then return false end
return redis.call('GET', ARGV[1] .. roomId)`;

const sha1 = (text: string): string => createHash("sha1").update(text).digest("hex");

/** The longest wait between two attempts to reach Redis again. */
const LONGEST_RECONNECT_DELAY_MS = 2000;

/** Where Redis is: a URL, or Sentinels that name its primary (with the URL's credentials and database). */
export interface RedisSettings {
  url: string;
  keyPrefix: string;
  sentinels?: readonly string[] | undefined;
  masterName?: string | undefined;
}

/** "host:port" as ioredis takes a Sentinel's address. */
function sentinelAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(":");
  return { host: address.slice(0, colon).replace(/^\[(.*)\]$/, "$1"), port: Number(address.slice(colon + 1)) };
}

export class RedisStore implements BridgeStore, LeaseStore {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly availableListeners: (() => void)[] = [];
  private readonly fencedListeners: ((err: FencedError) => void)[] = [];
  /** The fencing token the writes that matter carry, once this instance took the lease; "" without one. */
  private fencingToken = "";

  constructor(settings: RedisSettings, private readonly log: Logger) {
    this.prefix = settings.keyPrefix;
    const sentinels = settings.sentinels?.length ? { sentinels: settings.sentinels.map(sentinelAddress), name: settings.masterName ?? "" } : {};
    this.redis = new Redis(settings.url, {
      ...sentinels,
      lazyConnect: true,
      // A primary that became a replica (a failover) refuses writes: connect again, to whichever is primary now.
      reconnectOnError: (err) => err.message.startsWith("READONLY"),
      // While Redis is away a command fails at once instead of waiting in the client for it: the
      // homeserver's transaction gets its 503 right away, XMPP input is held by the ingress, the outbox
      // retries. Each caller decides what waits, and how long (see docs/reliability.md).
      enableOfflineQueue: false,
      // A command already written when the connection broke fails after two attempts to reconnect.
      maxRetriesPerRequest: 2,
      retryStrategy: (attempt) => Math.min(250 * attempt, LONGEST_RECONNECT_DELAY_MS),
    });
    let wasReady = false;
    let lost = false;
    this.redis.on("ready", () => {
      if (wasReady) this.log.info("reconnected to Redis");
      wasReady = true;
      lost = false;
      for (const listener of this.availableListeners) listener();
    });
    // Once per outage, not at every attempt to reconnect.
    this.redis.on("close", () => {
      if (!wasReady || lost) return;
      lost = true;
      this.log.warn("lost the connection to Redis; reconnecting");
    });
    this.redis.on("error", (err: Error) => {
      if (lost) this.log.debug({ err }, "Redis still unreachable");
      else this.log.warn({ err }, "Redis connection error");
    });
  }

  isAvailable(): boolean {
    return this.redis.status === "ready";
  }

  onAvailable(listener: () => void): void {
    this.availableListeners.push(listener);
  }

  async connect(): Promise<void> {
    await this.redis.connect();
    await this.ping();
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  private key(...parts: string[]): string {
    return this.prefix + parts.join(":");
  }

  async acceptTransaction(txnId: string, entries: readonly OutboxEntry[]): Promise<boolean> {
    const keys = [this.key("txn", txnId), this.key("outboxes"), ...entries.map((e) => this.key("outbox", e.lane))];
    const args = [String(TRANSACTION_TTL_SECONDS), ...entries.map((e) => e.payload), ...entries.map((e) => e.lane)];
    const accepted = await this.redis.eval(APPEND_ONCE, keys.length, ...keys, ...args);
    return accepted === 1;
  }

  async appendToOutbox(entry: OutboxEntry): Promise<void> {
    await this.redis.multi().rpush(this.key("outbox", entry.lane), entry.payload).sadd(this.key("outboxes"), entry.lane).exec();
  }

  async peekOutbox(lane: string, count: number): Promise<string[]> {
    return this.redis.lrange(this.key("outbox", lane), 0, count - 1);
  }

  async removeFromOutbox(lane: string, payloads: readonly string[]): Promise<void> {
    if (payloads.length === 0) return;
    const removed = await this.fenced("removing delivered entries", REMOVE_HEAD, [this.key("outbox", lane)], payloads.map(sha1));
    if (removed !== 1) this.log.debug({ lane, count: payloads.length }, "the outbox's head was already removed");
  }

  /** Runs a script that starts with FENCE: KEYS[1] and ARGV[1] are put in front of `keys` and `args`. */
  private async fenced(what: string, script: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    const token = this.fencingToken;
    const result = await this.redis.eval(script, keys.length + 1, this.key("lease", "token"), ...keys, token, ...args);
    if (result !== FENCED) return result;
    const err = new FencedError(Number(token), what);
    for (const listener of this.fencedListeners) listener(err);
    throw err;
  }

  async acquireLease(holder: string, ttlMs: number): Promise<number | undefined> {
    const token = await this.redis.eval(ACQUIRE_LEASE, 2, this.key("lease"), this.key("lease", "token"), holder, String(Math.ceil(ttlMs)));
    return typeof token === "number" && token > 0 ? token : undefined;
  }

  async renewLease(holder: string, token: number, ttlMs: number): Promise<boolean> {
    return (await this.redis.eval(RENEW_LEASE, 1, this.key("lease"), `${holder} ${token}`, String(Math.ceil(ttlMs)))) === 1;
  }

  async releaseLease(holder: string, token: number): Promise<void> {
    await this.redis.eval(RELEASE_LEASE, 1, this.key("lease"), `${holder} ${token}`);
  }

  fence(token: number): void {
    this.fencingToken = String(token);
  }

  onFenced(listener: (err: FencedError) => void): void {
    this.fencedListeners.push(listener);
  }

  async pendingLanes(): Promise<string[]> {
    const lanes = await this.redis.smembers(this.key("outboxes"));
    const pending: string[] = [];
    for (const lane of lanes) {
      if ((await this.redis.llen(this.key("outbox", lane))) > 0) pending.push(lane);
      else await this.redis.eval(FORGET_EMPTY_LANE, 2, this.key("outboxes"), this.key("outbox", lane), lane);
    }
    return pending;
  }

  async outboxDepths(): Promise<Map<string, number>> {
    const lanes = await this.redis.smembers(this.key("outboxes"));
    const pipeline = this.redis.pipeline();
    for (const lane of lanes) pipeline.llen(this.key("outbox", lane));
    const lengths = (await pipeline.exec()) ?? [];
    return new Map(lanes.map((lane, i) => [lane, Number(lengths[i]?.[1] ?? 0)]));
  }

  async outboxHeads(): Promise<Map<string, string>> {
    const lanes = await this.redis.smembers(this.key("outboxes"));
    const pipeline = this.redis.pipeline();
    for (const lane of lanes) pipeline.lindex(this.key("outbox", lane), 0);
    const heads = (await pipeline.exec()) ?? [];
    return new Map(lanes.flatMap((lane, i) => (typeof heads[i]?.[1] === "string" ? [[lane, heads[i][1]]] : [])));
  }

  async appendToOutboxOnce(entry: OutboxEntry, onceKey: string, ttlSeconds: number): Promise<boolean> {
    const keys = [this.key("once", onceKey), this.key("outboxes"), this.key("outbox", entry.lane)];
    const appended = await this.redis.eval(APPEND_ONCE, keys.length, ...keys, String(Math.ceil(ttlSeconds)), entry.payload, entry.lane);
    return appended === 1;
  }

  private linkKeys(link: Link): string[] {
    return link.kind === "dm"
      ? [this.key("link", "room", link.roomId), this.key("link", "dm", link.matrixUser, link.xmppUser)]
      : [this.key("link", "room", link.roomId), this.key("link", "muc", link.muc)];
  }

  async saveLink(link: Link): Promise<void> {
    const [roomKey, otherKey] = this.linkKeys(link);
    await this.redis.multi().set(roomKey!, JSON.stringify(link)).set(otherKey!, link.roomId).sadd(this.key("links"), link.roomId).exec();
  }

  async removeLink(link: Link): Promise<void> {
    await this.redis.multi().del(...this.linkKeys(link)).srem(this.key("links"), link.roomId).exec();
  }

  async linkByRoom(roomId: string): Promise<Link | undefined> {
    const json = await this.redis.get(this.key("link", "room", roomId));
    return json ? (JSON.parse(json) as Link) : undefined;
  }

  async linkByMuc(muc: string): Promise<Link | undefined> {
    return this.linkByRoomOf(this.key("link", "muc", muc));
  }

  async dmLink(matrixUser: string, xmppUser: string): Promise<Link | undefined> {
    return this.linkByRoomOf(this.key("link", "dm", matrixUser, xmppUser));
  }

  /** Asked for each message from XMPP: one round trip. */
  private async linkByRoomOf(key: string): Promise<Link | undefined> {
    const json = (await this.redis.eval(LINK_BY_ROOM_OF, 1, key, this.key("link", "room", ""))) as string | null;
    return json ? (JSON.parse(json) as Link) : undefined;
  }

  async links(): Promise<Link[]> {
    const roomIds = await this.redis.smembers(this.key("links"));
    if (roomIds.length === 0) return [];
    const values = await this.redis.mget(roomIds.map((id) => this.key("link", "room", id)));
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as Link);
  }

  async recordMessage(entry: MessageMapEntry, ttlSeconds: number): Promise<void> {
    const xmppIds = [...new Set([entry.ids.id, entry.ids.originId, entry.ids.stanzaId])].filter((id): id is string => !!id);
    const keys = [this.key("msg", "mx", entry.eventId), ...xmppIds.map((id) => this.key("msg", "xmpp", entry.conversation, id))];
    const values = [JSON.stringify(entry), ...xmppIds.map(() => entry.eventId)];
    await this.fenced("recording a message", SET_ALL, keys, [String(Math.ceil(ttlSeconds)), ...values]);
  }

  async eventIdForXmppId(conversation: string, xmppId: string): Promise<string | undefined> {
    return (await this.redis.get(this.key("msg", "xmpp", conversation, xmppId))) ?? undefined;
  }

  async messageByEventId(eventId: string): Promise<MessageMapEntry | undefined> {
    const json = await this.redis.get(this.key("msg", "mx", eventId));
    return json ? (JSON.parse(json) as MessageMapEntry) : undefined;
  }

  async reactionsOf(target: string, sender: string): Promise<Map<string, string>> {
    return new Map(Object.entries(await this.redis.hgetall(this.key("reactions", target, sender))));
  }

  async recordReaction(reaction: ReactionEntry, ttlSeconds: number): Promise<void> {
    const ttl = Math.ceil(ttlSeconds);
    const set = this.key("reactions", reaction.target, reaction.sender);
    await this.redis
      .multi()
      .hset(set, reaction.key, reaction.eventId)
      .expire(set, ttl)
      .set(this.key("reaction", reaction.eventId), JSON.stringify(reaction), "EX", ttl)
      .exec();
  }

  async forgetReaction(reaction: ReactionEntry): Promise<void> {
    await this.redis.multi().hdel(this.key("reactions", reaction.target, reaction.sender), reaction.key).del(this.key("reaction", reaction.eventId)).exec();
  }

  async reactionByEventId(eventId: string): Promise<ReactionEntry | undefined> {
    const json = await this.redis.get(this.key("reaction", eventId));
    return json ? (JSON.parse(json) as ReactionEntry) : undefined;
  }

  async setThreadRoot(conversation: string, thread: string, rootEventId: string, ttlSeconds: number): Promise<void> {
    await this.redis.set(this.key("thread", conversation, thread), rootEventId, "EX", Math.ceil(ttlSeconds));
  }

  async threadRoot(conversation: string, thread: string): Promise<string | undefined> {
    return (await this.redis.get(this.key("thread", conversation, thread))) ?? undefined;
  }

  async setLastMessage(conversation: string, sender: string, eventId: string, ttlSeconds: number): Promise<void> {
    await this.redis.set(this.key("last", conversation, sender), eventId, "EX", Math.ceil(ttlSeconds));
  }

  async lastMessage(conversation: string, sender: string): Promise<string | undefined> {
    return (await this.redis.get(this.key("last", conversation, sender))) ?? undefined;
  }

  async setMucDeliveredUntil(muc: string, time: number): Promise<void> {
    await this.redis.hset(this.key("delivered-until"), muc, String(Math.floor(time)));
  }

  async mucDeliveredUntil(muc: string): Promise<number | undefined> {
    const value = await this.redis.hget(this.key("delivered-until"), muc);
    return value === null ? undefined : Number(value);
  }

  async setMucLastStanzaId(muc: string, stanzaId: string): Promise<void> {
    await this.redis.hset(this.key("last-stanza-id"), muc, stanzaId);
  }

  async mucLastStanzaId(muc: string): Promise<string | undefined> {
    return (await this.redis.hget(this.key("last-stanza-id"), muc)) ?? undefined;
  }

  async setPuppetOccupancy(muc: string, matrixUser: string, nick: string | undefined): Promise<void> {
    const key = this.key("occupancy", muc);
    if (nick === undefined) await this.redis.multi().hdel(key, matrixUser).exec();
    else await this.redis.multi().hset(key, matrixUser, nick).sadd(this.key("occupied"), muc).exec();
  }

  async puppetOccupancy(): Promise<PuppetOccupancy[]> {
    const mucs = await this.redis.smembers(this.key("occupied"));
    const result: PuppetOccupancy[] = [];
    for (const muc of mucs) {
      const puppets = await this.redis.hgetall(this.key("occupancy", muc));
      for (const [matrixUser, nick] of Object.entries(puppets)) result.push({ muc, matrixUser, nick });
    }
    return result;
  }

  async setGatewayOccupant(room: string, occupant: string, nick: string | undefined): Promise<void> {
    if (nick === undefined) await this.redis.hdel(this.key("gateway", room), occupant);
    else await this.redis.hset(this.key("gateway", room), occupant, nick);
  }

  async gatewayOccupants(room: string): Promise<Map<string, string>> {
    return new Map(Object.entries(await this.redis.hgetall(this.key("gateway", room))));
  }

  async addPresenceSubscriber(matrixUser: string, xmppUser: string): Promise<void> {
    await this.redis.multi().sadd(this.key("subscribers", matrixUser), xmppUser).sadd(this.key("subscribed"), matrixUser).exec();
  }

  async removePresenceSubscriber(matrixUser: string, xmppUser: string): Promise<void> {
    await this.redis.srem(this.key("subscribers", matrixUser), xmppUser);
  }

  async presenceSubscribers(matrixUser: string): Promise<string[]> {
    return this.redis.smembers(this.key("subscribers", matrixUser));
  }

  async presenceSubscriptions(): Promise<PresenceSubscription[]> {
    const result: PresenceSubscription[] = [];
    for (const matrixUser of await this.redis.smembers(this.key("subscribed"))) {
      const subscribers = await this.presenceSubscribers(matrixUser);
      // Emptied by unsubscriptions: dropped from the index here rather than raced for on each removal.
      if (subscribers.length === 0) await this.redis.srem(this.key("subscribed"), matrixUser);
      for (const xmppUser of subscribers) result.push({ matrixUser, xmppUser });
    }
    return result;
  }

  async ghostProfile(ghost: string): Promise<GhostProfileState> {
    const fields = await this.redis.hgetall(this.key("profile", ghost));
    return { ...(fields.avatar === undefined ? {} : { avatarHash: fields.avatar }), ...(fields.name === undefined ? {} : { vcardName: fields.name }) };
  }

  async setGhostProfile(ghost: string, state: GhostProfileState): Promise<void> {
    const fields = { ...(state.avatarHash === undefined ? {} : { avatar: state.avatarHash }), ...(state.vcardName === undefined ? {} : { name: state.vcardName }) };
    if (Object.keys(fields).length > 0) await this.redis.hset(this.key("profile", ghost), fields);
  }

  async membershipOf(roomId: string, userId: string): Promise<string | undefined> {
    return (await this.redis.hget(this.key("members", roomId), userId)) ?? undefined;
  }

  async setMembership(roomId: string, userId: string, membership: string): Promise<void> {
    await this.redis.hset(this.key("members", roomId), userId, membership);
  }

  async forgetMembership(roomId: string, userId: string): Promise<void> {
    await this.redis.hdel(this.key("members", roomId), userId);
  }

  async uploadedAvatar(sha1: string): Promise<string | undefined> {
    return (await this.redis.get(this.key("avatar", "upload", sha1))) ?? undefined;
  }

  async setUploadedAvatar(sha1: string, mxc: string): Promise<void> {
    await this.redis.set(this.key("avatar", "upload", sha1), mxc);
  }

  async matrixAvatar(mxc: string): Promise<MatrixAvatarInfo | undefined> {
    const json = await this.redis.get(this.key("avatar", "mxc", mxc));
    return json ? (JSON.parse(json) as MatrixAvatarInfo) : undefined;
  }

  async setMatrixAvatar(mxc: string, info: MatrixAvatarInfo): Promise<void> {
    await this.redis.set(this.key("avatar", "mxc", mxc), JSON.stringify(info));
  }

  async mucAvatar(muc: string): Promise<string | undefined> {
    return (await this.redis.hget(this.key("muc-avatars"), muc)) ?? undefined;
  }

  async setMucAvatar(muc: string, hash: string): Promise<void> {
    await this.redis.hset(this.key("muc-avatars"), muc, hash);
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
