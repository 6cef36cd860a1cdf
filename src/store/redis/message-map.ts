import type { Redis } from "ioredis";
import type { MessageMapEntry } from "../store.js";
import { FENCE, type Fencing } from "./fencing.js";
import type { RedisKeys } from "./keys.js";

/** Sets KEYS[2] to ARGV[3] for ARGV[2] seconds, unless fenced. */
const FENCED_SET = `${FENCE}
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2])
return 1`;

/** Nothing but the fence: for an entry without XMPP ids, whose one write is not in the conversation's slot. */
const FENCE_ONLY = `${FENCE}
return 1`;

/**
 * The message map: `msg:mx:<event>` (the entry) and `msg:xmpp:{<conversation>}:<xmpp id>` (its event ID),
 * one per XMPP id. The XMPP ids are fenced writes in the conversation's slot, made first; the entry is
 * written once they were accepted, so a crash between them leaves ids whose entry is missing (readers
 * find no message), never an entry without its ids.
 */
export class RedisMessageMap {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly fencing: Fencing,
  ) {}

  async recordMessage(entry: MessageMapEntry, ttlSeconds: number): Promise<void> {
    const ttl = String(Math.ceil(ttlSeconds));
    const claim = this.keys.claim(entry.conversation);
    const xmppIds = [...new Set([entry.ids.id, entry.ids.originId, entry.ids.stanzaId])].filter((id): id is string => !!id);
    if (xmppIds.length === 0) await this.fencing.run("recording a message", FENCE_ONLY, claim, [], []);
    await Promise.all(xmppIds.map((id) => this.fencing.run("recording a message", FENCED_SET, claim, [this.keys.xmppMessage(entry.conversation, id)], [ttl, entry.eventId])));
    await this.redis.set(this.keys.matrixMessage(entry.eventId), JSON.stringify(entry), "EX", ttl);
  }

  async eventIdForXmppId(conversation: string, xmppId: string): Promise<string | undefined> {
    return (await this.redis.get(this.keys.xmppMessage(conversation, xmppId))) ?? undefined;
  }

  async messageByEventId(eventId: string): Promise<MessageMapEntry | undefined> {
    const json = await this.redis.get(this.keys.matrixMessage(eventId));
    return json ? (JSON.parse(json) as MessageMapEntry) : undefined;
  }
}
