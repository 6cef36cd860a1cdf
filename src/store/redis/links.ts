import type { Redis } from "ioredis";
import type { Link } from "../../core/model.js";
import type { RedisKeys } from "./keys.js";

/**
 * Links: `link:room:<room>` (the link) and its lookups, `link:muc:<muc>` or `link:dm:...` (the room ID),
 * and the index `links`. Each is its own command, in an order that leaves an index or a lookup without
 * its link after a crash (readers find no link there), never a link that they miss.
 */
export class RedisLinks {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  private lookupKey(link: Link): string {
    return link.kind === "dm" ? this.keys.key("link", "dm", link.matrixUser, link.xmppUser) : this.keys.key("link", "muc", link.muc);
  }

  private roomKey(roomId: string): string {
    return this.keys.key("link", "room", roomId);
  }

  async saveLink(link: Link): Promise<void> {
    await this.redis.sadd(this.keys.key("links"), link.roomId);
    await this.redis.set(this.lookupKey(link), link.roomId);
    await this.redis.set(this.roomKey(link.roomId), JSON.stringify(link));
  }

  async removeLink(link: Link): Promise<void> {
    await this.redis.del(this.roomKey(link.roomId));
    await this.redis.del(this.lookupKey(link));
    await this.redis.srem(this.keys.key("links"), link.roomId);
  }

  async linkByRoom(roomId: string): Promise<Link | undefined> {
    const json = await this.redis.get(this.roomKey(roomId));
    return json ? (JSON.parse(json) as Link) : undefined;
  }

  async linkByMuc(muc: string): Promise<Link | undefined> {
    const roomId = await this.redis.get(this.keys.key("link", "muc", muc));
    return roomId ? this.linkByRoom(roomId) : undefined;
  }

  async dmLink(matrixUser: string, xmppUser: string): Promise<Link | undefined> {
    const roomId = await this.redis.get(this.keys.key("link", "dm", matrixUser, xmppUser));
    return roomId ? this.linkByRoom(roomId) : undefined;
  }

  /** Each read alone: the links are in as many slots as rooms. */
  async links(): Promise<Link[]> {
    const roomIds = await this.redis.smembers(this.keys.key("links"));
    const links = await Promise.all(roomIds.map((roomId) => this.linkByRoom(roomId)));
    return links.filter((link): link is Link => link !== undefined);
  }
}
