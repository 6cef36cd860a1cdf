import type { Redis } from "ioredis";
import type { ReactionEntry } from "../store.js";
import type { RedisKeys } from "./keys.js";

/**
 * Reactions: `reactions:<target>:<sender>` (emoji → the m.reaction event) and `reaction:<event>` (the
 * reaction). Written in that order and removed in the other, so that a crash between them leaves an emoji
 * whose reaction is missing, never a reaction its sender's set lacks.
 */
export class RedisReactions {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  async reactionsOf(target: string, sender: string): Promise<Map<string, string>> {
    return new Map(Object.entries(await this.redis.hgetall(this.keys.key("reactions", target, sender))));
  }

  async recordReaction(reaction: ReactionEntry, ttlSeconds: number): Promise<void> {
    const ttl = Math.ceil(ttlSeconds);
    const set = this.keys.key("reactions", reaction.target, reaction.sender);
    await this.redis.multi().hset(set, reaction.key, reaction.eventId).expire(set, ttl).exec();
    await this.redis.set(this.keys.key("reaction", reaction.eventId), JSON.stringify(reaction), "EX", ttl);
  }

  async forgetReaction(reaction: ReactionEntry): Promise<void> {
    await this.redis.del(this.keys.key("reaction", reaction.eventId));
    await this.redis.hdel(this.keys.key("reactions", reaction.target, reaction.sender), reaction.key);
  }

  async reactionByEventId(eventId: string): Promise<ReactionEntry | undefined> {
    const json = await this.redis.get(this.keys.key("reaction", eventId));
    return json ? (JSON.parse(json) as ReactionEntry) : undefined;
  }
}
