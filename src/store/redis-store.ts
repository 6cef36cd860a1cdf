import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import type { Logger } from "../log.js";
import type { Link } from "../core/model.js";
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
 * Trims the head of an outbox if it still holds the entries given by their SHA-1 digests, else nothing.
 * KEYS[1] = the outbox; ARGV = the digests, oldest first. A removal sent again (ioredis resends what was
 * unanswered when the connection broke; the worker retries a removal that failed) then removes nothing more.
 */
const REMOVE_HEAD = `
local head = redis.call('LRANGE', KEYS[1], 0, #ARGV - 1)
if #head < #ARGV then return 0 end
for i = 1, #ARGV do
  if redis.sha1hex(head[i]) ~= ARGV[i] then return 0 end
end
redis.call('LTRIM', KEYS[1], #ARGV, -1)
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

export class RedisStore implements BridgeStore {
  private readonly redis: Redis;
  private readonly availableListeners: (() => void)[] = [];

  constructor(
    url: string,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {
    this.redis = new Redis(url, {
      lazyConnect: true,
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
    const removed = await this.redis.eval(REMOVE_HEAD, 1, this.key("outbox", lane), ...payloads.map(sha1));
    if (removed !== 1) this.log.debug({ lane, count: payloads.length }, "the outbox's head was already removed");
  }

  async pendingLanes(): Promise<string[]> {
    const lanes = await this.redis.smembers(this.key("outboxes"));
    const pending: string[] = [];
    for (const lane of lanes) {
      if ((await this.redis.llen(this.key("outbox", lane))) > 0) pending.push(lane);
      else await this.redis.srem(this.key("outboxes"), lane);
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
    const ttl = Math.ceil(ttlSeconds);
    const multi = this.redis.multi().set(this.key("msg", "mx", entry.eventId), JSON.stringify(entry), "EX", ttl);
    for (const xmppId of new Set([entry.ids.id, entry.ids.originId, entry.ids.stanzaId])) {
      if (xmppId) multi.set(this.key("msg", "xmpp", entry.conversation, xmppId), entry.eventId, "EX", ttl);
    }
    await multi.exec();
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
