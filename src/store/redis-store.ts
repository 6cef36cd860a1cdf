import { Redis } from "ioredis";
import type { Logger } from "../log.js";
import type { Link } from "../core/model.js";
import type { FencedError, LeaseStore } from "./lease.js";
import type { BridgeStore, GhostProfileState, MatrixAvatarInfo, MessageMapEntry, OutboxEntry, PresenceSubscription, PuppetOccupancy, ReactionEntry } from "./store.js";
import { Fencing } from "./redis/fencing.js";
import { RedisKeys } from "./redis/keys.js";
import { RedisLease } from "./redis/lease.js";
import { RedisLinks } from "./redis/links.js";
import { RedisMessageMap } from "./redis/message-map.js";
import { migrateLayout } from "./redis/migration.js";
import { RedisOutboxes } from "./redis/outboxes.js";
import { RedisReactions } from "./redis/reactions.js";

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
  private readonly keys: RedisKeys;
  private readonly availableListeners: (() => void)[] = [];
  private readonly fencing: Fencing;
  private readonly outboxes: RedisOutboxes;
  private readonly lease: RedisLease;
  private readonly linkStore: RedisLinks;
  private readonly messageMap: RedisMessageMap;
  private readonly reactions: RedisReactions;

  constructor(settings: RedisSettings, private readonly log: Logger) {
    this.keys = new RedisKeys(settings.keyPrefix);
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
    this.fencing = new Fencing(this.redis);
    this.outboxes = new RedisOutboxes(this.redis, this.keys, this.fencing, log);
    this.lease = new RedisLease(this.redis, this.keys);
    this.linkStore = new RedisLinks(this.redis, this.keys);
    this.messageMap = new RedisMessageMap(this.redis, this.keys, this.fencing);
    this.reactions = new RedisReactions(this.redis, this.keys);
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

  /** Moves data an earlier version left under old key names (docs/store.md): at start, before any other use. */
  async migrateLayout(): Promise<void> {
    await migrateLayout(this.redis, this.keys, this.log);
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  private key(...parts: string[]): string {
    return this.keys.key(...parts);
  }

  acceptTransaction = (txnId: string, entries: readonly OutboxEntry[]): Promise<boolean> => this.outboxes.acceptTransaction(txnId, entries);
  appendToOutbox = (entry: OutboxEntry): Promise<void> => this.outboxes.appendToOutbox(entry);
  appendToOutboxOnce = (entry: OutboxEntry, onceKey: string, ttlSeconds: number): Promise<boolean> => this.outboxes.appendToOutboxOnce(entry, onceKey, ttlSeconds);
  peekOutbox = (lane: string, count: number): Promise<string[]> => this.outboxes.peekOutbox(lane, count);
  removeFromOutbox = (lane: string, payloads: readonly string[]): Promise<void> => this.outboxes.removeFromOutbox(lane, payloads);
  pendingLanes = (): Promise<string[]> => this.outboxes.pendingLanes();
  outboxDepths = (): Promise<Map<string, number>> => this.outboxes.outboxDepths();
  outboxHeads = (): Promise<Map<string, string>> => this.outboxes.outboxHeads();

  acquireLease = (holder: string, ttlMs: number): Promise<number | undefined> => this.lease.acquireLease(holder, ttlMs);
  renewLease = (holder: string, token: number, ttlMs: number): Promise<boolean> => this.lease.renewLease(holder, token, ttlMs);
  releaseLease = (holder: string, token: number): Promise<void> => this.lease.releaseLease(holder, token);
  fence = (token: number): void => this.fencing.fence(token);
  onFenced = (listener: (err: FencedError) => void): void => this.fencing.onFenced(listener);

  saveLink = (link: Link): Promise<void> => this.linkStore.saveLink(link);
  removeLink = (link: Link): Promise<void> => this.linkStore.removeLink(link);
  linkByRoom = (roomId: string): Promise<Link | undefined> => this.linkStore.linkByRoom(roomId);
  linkByMuc = (muc: string): Promise<Link | undefined> => this.linkStore.linkByMuc(muc);
  dmLink = (matrixUser: string, xmppUser: string): Promise<Link | undefined> => this.linkStore.dmLink(matrixUser, xmppUser);
  links = (): Promise<Link[]> => this.linkStore.links();

  recordMessage = (entry: MessageMapEntry, ttlSeconds: number): Promise<void> => this.messageMap.recordMessage(entry, ttlSeconds);
  eventIdForXmppId = (conversation: string, xmppId: string): Promise<string | undefined> => this.messageMap.eventIdForXmppId(conversation, xmppId);
  messageByEventId = (eventId: string): Promise<MessageMapEntry | undefined> => this.messageMap.messageByEventId(eventId);

  reactionsOf = (target: string, sender: string): Promise<Map<string, string>> => this.reactions.reactionsOf(target, sender);
  recordReaction = (reaction: ReactionEntry, ttlSeconds: number): Promise<void> => this.reactions.recordReaction(reaction, ttlSeconds);
  forgetReaction = (reaction: ReactionEntry): Promise<void> => this.reactions.forgetReaction(reaction);
  reactionByEventId = (eventId: string): Promise<ReactionEntry | undefined> => this.reactions.reactionByEventId(eventId);

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
    if (nick === undefined) {
      await this.redis.hdel(key, matrixUser);
      return;
    }
    // The index first: a crash between them leaves a MUC listed without puppets, which rejoining skips.
    await this.redis.sadd(this.key("occupied"), muc);
    await this.redis.hset(key, matrixUser, nick);
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
    // The index first: a crash between them leaves a user listed without subscribers, which probing skips.
    await this.redis.sadd(this.key("subscribed"), matrixUser);
    await this.redis.sadd(this.key("subscribers", matrixUser), xmppUser);
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
