import { fromMatrixPresence, type MatrixPresence, type UserPresence } from "../core/presence.js";
import type { MatrixInbound } from "../core/model.js";
import { fromMatrixContent } from "../core/messages.js";
import { parseMatrixEvent, withTrail } from "./events.js";
import type { Trail } from "../core/trail.js";
import type { Homeserver } from "./homeserver.js";
import { BoundedMap } from "../core/bounded-map.js";
import { matrixLocalpart } from "../core/identity.js";
import type { PowerLevels } from "../core/gateway.js";
import type { BridgeStore } from "../store/store.js";

export interface RoomView {
  /** Joined members and their display names in the room. */
  members: Map<string, string | undefined>;
  levels: PowerLevels;
  topic: string;
}

export interface RoomSummary {
  name?: string;
  topic?: string;
  members: number;
  /** Anyone may join (join rule public). */
  open: boolean;
}

export interface RoomMessage {
  event: Extract<MatrixInbound, { kind: "message" }>;
  sentAt: number;
}

/** Pages of events read at the most for one query of messages. */
const MAX_PAGES_PER_QUERY = 10;

/** Messages read backwards are given oldest first. */
const ordered = (messages: RoomMessage[], dir: "f" | "b"): RoomMessage[] => (dir === "b" ? messages.reverse() : messages);

/** The messages among raw room events, with their times, in the order given. */
function readMessages(events: readonly unknown[]): RoomMessage[] {
  const messages: RoomMessage[] = [];
  for (const raw of events) {
    const reading = parseMatrixEvent(raw);
    const sentAt = (raw as { origin_server_ts?: unknown }).origin_server_ts;
    if ("event" in reading && reading.event.kind === "message" && typeof sentAt === "number") messages.push({ event: reading.event, sentAt });
  }
  return messages;
}

/** MSC2346: the state event that tells clients which bridge joins a room to which remote chat. */
const BRIDGE_STATE_TYPES = ["m.bridge", "uk.half-shot.bridge"] as const;

export interface BridgeInfo {
  /** The remote chat's address: a MUC JID, or the XMPP user's JID in a DM. */
  remoteId: string;
  remoteName?: string;
}

interface MatrixHttpError {
  statusCode?: number;
  body?: { errcode?: string; error?: string };
}

export function matrixErrorCode(err: unknown): string | undefined {
  return (err as MatrixHttpError).body?.errcode;
}

/** Ghosts whose profile the bridge set already; bounded so it cannot grow without end. */
const PROFILE_CACHE_SIZE = 10_000;
/** Memberships known, by room and user. */
const MEMBERSHIP_CACHE_SIZE = 20_000;

const membershipKey = (roomId: string, userId: string): string => `${roomId}\n${userId}`;

/** Where memberships the homeserver told are kept beyond the process (the store). */
export type MembershipRecord = Pick<BridgeStore, "membershipOf" | "setMembership" | "forgetMembership">;

/** Synapse refuses display names longer than 256 code points (an XMPP nick may be 1023 bytes): longer ones are cut. */
const MAX_DISPLAY_NAME_CHARS = 256;
function displayNameFor(name: string): string {
  const chars = [...name];
  return chars.length <= MAX_DISPLAY_NAME_CHARS ? name : `${chars.slice(0, MAX_DISPLAY_NAME_CHARS - 1).join("")}…`;
}

/** What the bridge does on Matrix, as the bot or as a ghost. */
export class MatrixRooms {
  private readonly profiles = new BoundedMap<string, string>(PROFILE_CACHE_SIZE);
  /**
   * Memberships as the homeserver told them, in the membership events it sends (observeMembership),
   * kept in the store too, and read from it only when neither knows: the DM check of each message XMPP
   * sends then costs no request, even after a restart.
   */
  private readonly memberships = new BoundedMap<string, string | undefined>(MEMBERSHIP_CACHE_SIZE);
  /** Counts membership changes, so that a read that overlapped one is not remembered. */
  private membershipChanges = 0;

  constructor(
    private readonly homeserver: Homeserver,
    private readonly record: MembershipRecord,
  ) {}

  /** Registers the ghost if needed and sets its global display name. */
  async ensureGhost(userId: string, displayName: string): Promise<void> {
    if (this.profiles.get(userId) === displayName) return;
    const intent = this.homeserver.intent(userId);
    await intent.ensureRegistered();
    await intent.setDisplayName(displayNameFor(displayName));
    this.remember(userId, displayName);
  }

  /**
   * Registers the ghost if needed and, if it has no name yet, names it with what `findName` finds:
   * a name it already has (given by an earlier message, say) is never overwritten by a guess.
   */
  async ensureGhostNamed(userId: string, findName: () => Promise<string>): Promise<void> {
    if (this.profiles.has(userId)) return;
    const intent = this.homeserver.intent(userId);
    await intent.ensureRegistered();
    // A new user's display name is its localpart until someone sets one.
    const current = await this.displayName(undefined, userId);
    if (current !== undefined && current !== matrixLocalpart(userId)) return this.remember(userId, current);
    const name = await findName();
    await intent.setDisplayName(displayNameFor(name));
    this.remember(userId, name);
  }

  /** Sets a ghost's global avatar; "" removes it. */
  async setAvatar(userId: string, mxc: string): Promise<void> {
    await this.homeserver.intent(userId).setAvatarUrl(mxc);
  }

  /** A user's global display name and avatar; empty when they have set neither (or do not exist). */
  async globalProfile(userId: string): Promise<{ displayName?: string; avatarUrl?: string }> {
    try {
      const profile = (await this.homeserver.bot.matrixClient.getUserProfile(userId)) as { displayname?: unknown; avatar_url?: unknown };
      return {
        ...(typeof profile.displayname === "string" && profile.displayname ? { displayName: profile.displayname } : {}),
        ...(typeof profile.avatar_url === "string" && profile.avatar_url ? { avatarUrl: profile.avatar_url } : {}),
      };
    } catch (err) {
      if (matrixErrorCode(err) === "M_NOT_FOUND") return {};
      throw err;
    }
  }

  private remember(userId: string, displayName: string): void {
    this.profiles.set(userId, displayName);
  }

  /**
   * A membership event from the homeserver, of any sender: what membership() answers follows it.
   * Every change in a room where a ghost is reaches the bridge this way.
   */
  async observeMembership({ roomId, target, membership }: { roomId: string; target: string; membership: string }): Promise<void> {
    this.membershipChanges++;
    this.memberships.set(membershipKey(roomId, target), membership);
    await this.record.setMembership(roomId, target, membership);
  }

  /** What the bridge itself changes is read again next time rather than guessed. */
  private async membershipChanging(roomId: string, userId: string): Promise<void> {
    this.membershipChanges++;
    this.memberships.delete(membershipKey(roomId, userId));
    await this.record.forgetMembership(roomId, userId);
  }

  /** The membership the homeserver last told, from memory, else from the store; undefined when neither knows it. */
  private async told(roomId: string, userId: string): Promise<{ membership: string | undefined } | undefined> {
    const key = membershipKey(roomId, userId);
    if (this.memberships.has(key)) return { membership: this.memberships.get(key) };
    const changes = this.membershipChanges;
    const membership = await this.record.membershipOf(roomId, userId);
    // A change that came meanwhile is newer than what was read: look again.
    if (changes !== this.membershipChanges) return this.told(roomId, userId);
    if (membership === undefined) return undefined;
    this.memberships.set(key, membership);
    return { membership };
  }

  /** The ghost opens a direct room with the Matrix user and invites them. */
  async createDirectRoom(ghost: string, matrixUser: string, info: BridgeInfo): Promise<string> {
    const { room_id: roomId } = await this.homeserver.intent(ghost).createRoom({
      createAsClient: true,
      options: {
        preset: "trusted_private_chat",
        is_direct: true,
        invite: [matrixUser],
        initial_state: this.bridgeState(info),
      },
    });
    return roomId;
  }

  /** The bot creates a public portal room reachable by the alias localpart. */
  async createPortalRoom(aliasLocalpart: string, name: string, topic: string | undefined, info: BridgeInfo): Promise<string> {
    const { room_id: roomId } = await this.homeserver.bot.createRoom({
      createAsClient: true,
      options: {
        preset: "public_chat",
        visibility: "private",
        room_alias_name: aliasLocalpart,
        name,
        ...(topic ? { topic } : {}),
        initial_state: this.bridgeState(info),
        // Ghosts speak and the bot administers; Matrix users keep their usual say.
        power_level_content_override: { users: { [this.homeserver.botUserId]: 100 }, events_default: 0, users_default: 0 },
      },
    });
    return roomId;
  }

  /**
   * Invites (when needed) and joins; the bot invites a ghost into a room it cannot join alone. Asked
   * before each message from a MUC: a member the homeserver said joined costs no request. With a trail
   * (what a ghost stands for, core/trail.ts), the join itself carries it, so that other bridges of this kind
   * know whose stand-in joined: Synapse keeps the keys of the join request in the member event.
   */
  async ensureJoined(userId: string, roomId: string, trail?: Trail): Promise<void> {
    if ((await this.told(roomId, userId))?.membership === "join") return;
    await this.membershipChanging(roomId, userId);
    if (!trail) {
      await this.homeserver.intent(userId).join(roomId);
      return void (await this.observeMembership({ roomId, target: userId, membership: "join" }));
    }
    try {
      await this.join(userId, roomId, trail);
    } catch (err) {
      // A room that takes invited users only: the bot, which is in it, invites the ghost first.
      if (matrixErrorCode(err) !== "M_FORBIDDEN") throw err;
      await this.invite(this.homeserver.botUserId, roomId, userId);
      await this.join(userId, roomId, trail);
    }
  }

  /** Joins as the user, asking the homeserver each time (the library's join trusts what it last saw). */
  async join(userId: string, roomId: string, trail?: Trail): Promise<void> {
    await this.membershipChanging(roomId, userId);
    const intent = this.homeserver.intent(userId);
    await intent.ensureRegistered();
    await intent.matrixClient.doRequest("POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, null, withTrail({}, trail));
    // Else the library's next act as the user there (typing, a receipt) would join again, without the trail.
    this.homeserver.joinedBy(userId, roomId);
    // The homeserver said so. Its member event may never come: a join of a member already in, with the same
    // content, makes none; then, unrecorded, every message would join again.
    await this.observeMembership({ roomId, target: userId, membership: "join" });
  }

  async invite(inviter: string, roomId: string, invitee: string): Promise<void> {
    await this.membershipChanging(roomId, invitee);
    await this.homeserver.intent(inviter).invite(roomId, invitee);
  }

  async leave(userId: string, roomId: string, reason?: string): Promise<void> {
    await this.membershipChanging(roomId, userId);
    await this.homeserver.intent(userId).leave(roomId, reason);
  }

  /** A member (a ghost) kicks or bans another; the homeserver refuses what their power level does not allow. */
  async removeMember(asUser: string, roomId: string, userId: string, action: "kick" | "ban", reason: string): Promise<void> {
    await this.membershipChanging(roomId, userId);
    const path = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/${action}`;
    await this.homeserver.intent(asUser).matrixClient.doRequest("POST", path, null, { user_id: userId, reason });
  }

  async kick(roomId: string, userId: string, reason: string): Promise<void> {
    await this.membershipChanging(roomId, userId);
    await this.homeserver.bot.kick(roomId, userId, reason);
  }

  async setRoomNick(userId: string, roomId: string, displayName: string): Promise<void> {
    await this.homeserver.intent(userId).setRoomUserProfile(roomId, { displayname: displayNameFor(displayName) });
  }

  /**
   * The user's membership in the room ("join", "invite", "leave"...), or undefined if never a member,
   * as seen by `viewer` (a ghost or the bot that is in the room).
   */
  async membership(roomId: string, userId: string, viewer: string): Promise<string | undefined> {
    const changes = this.membershipChanges;
    const told = await this.told(roomId, userId);
    if (told) return told.membership;
    let membership: string | undefined;
    try {
      const member = (await this.homeserver.intent(viewer).matrixClient.getRoomStateEvent(roomId, "m.room.member", userId)) as { membership?: string };
      membership = member.membership;
    } catch (err) {
      if (matrixErrorCode(err) !== "M_NOT_FOUND") throw err;
    }
    if (changes === this.membershipChanges) {
      this.memberships.set(membershipKey(roomId, userId), membership);
      if (membership !== undefined) await this.record.setMembership(roomId, userId, membership);
    }
    return membership;
  }

  /** The user's power level in the room (m.room.power_levels, else the spec's defaults). */
  async powerLevel(roomId: string, userId: string): Promise<number> {
    const levels = (await this.homeserver.bot.matrixClient.getRoomStateEvent(roomId, "m.room.power_levels", "")) as {
      users?: Record<string, number>;
      users_default?: number;
    };
    return levels.users?.[userId] ?? levels.users_default ?? 0;
  }

  /** The display name a Matrix user has in a room, else their global one, else undefined. */
  async displayName(roomId: string | undefined, userId: string): Promise<string | undefined> {
    if (roomId) {
      try {
        const member = (await this.homeserver.bot.matrixClient.getRoomStateEvent(roomId, "m.room.member", userId)) as { displayname?: string };
        if (member.displayname) return member.displayname;
      } catch {
        // not a member the bot can see: fall back to the global profile
      }
    }
    try {
      const profile = (await this.homeserver.bot.matrixClient.getUserProfile(userId)) as { displayname?: string };
      return profile.displayname || undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Sends as the user with a transaction ID of the bridge's choosing: the homeserver answers a
   * repeated ID with the first event, so a retry after a crash cannot post twice. `ts`: when it was
   * sent, for what comes late (history), which an appservice may say (the `ts` query parameter).
   * `trail`: the bridges it crossed, written into the content.
   */
  async send(userId: string, roomId: string, content: Record<string, unknown>, txnId: string, type = "m.room.message", ts?: number, trail?: Trail): Promise<string> {
    const path = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/${encodeURIComponent(type)}/${encodeURIComponent(txnId)}`;
    const intent = this.homeserver.intent(userId);
    await intent.ensureRegistered();
    const put = async () => ((await intent.matrixClient.doRequest("PUT", path, ts === undefined ? null : { ts: String(Math.floor(ts)) }, withTrail(content, trail))) as { event_id: string }).event_id;
    try {
      return await put();
    } catch (err) {
      // The membership the bridge went by was wrong (a removal it did not hear of): in again, and once more.
      if (matrixErrorCode(err) !== "M_FORBIDDEN") throw err;
      await this.rejoin(userId, roomId, trail);
      return put();
    }
  }

  /** Joins as the user, asking the homeserver; where it may not join alone, the bot invites it first. */
  private async rejoin(userId: string, roomId: string, trail: Trail | undefined): Promise<void> {
    try {
      await this.join(userId, roomId, trail);
    } catch (err) {
      if (matrixErrorCode(err) !== "M_FORBIDDEN" || userId === this.homeserver.botUserId) throw err;
      await this.homeserver.bot.matrixClient.inviteUser(userId, roomId);
      await this.join(userId, roomId, trail);
    }
  }

  async readReceipt(userId: string, roomId: string, eventId: string): Promise<void> {
    await this.homeserver.intent(userId).sendReadReceipt(roomId, eventId);
  }

  async typing(userId: string, roomId: string, typing: boolean): Promise<void> {
    await this.homeserver.intent(userId).sendTyping(roomId, typing);
  }

  /** Sets a ghost's presence (PUT /presence/{userId}/status as the ghost). */
  async setPresence(userId: string, presence: MatrixPresence): Promise<void> {
    const intent = this.homeserver.intent(userId);
    await intent.ensureRegistered();
    await intent.matrixClient.doRequest("PUT", `/_matrix/client/v3/presence/${encodeURIComponent(userId)}/status`, null, presence);
  }

  /**
   * A user's presence as `viewer` sees it (undefined when it is none the bridge knows): the homeserver shows it only to users who share a
   * room with them, so the viewer is the ghost in their DM.
   */
  async presence(viewer: string, userId: string): Promise<UserPresence | undefined> {
    return fromMatrixPresence(await this.homeserver.intent(viewer).matrixClient.doRequest("GET", `/_matrix/client/v3/presence/${encodeURIComponent(userId)}/status`));
  }

  /** Redacts an event as the user (a ghost retracting its own message). */
  async redact(userId: string, roomId: string, eventId: string, reason?: string): Promise<void> {
    await this.homeserver.intent(userId).matrixClient.redactEvent(roomId, eventId, reason ?? null);
  }

  /** An event as `viewer` (a member of the room) sees it, parsed; undefined when it cannot, or it is none the bridge reads. */
  async event(roomId: string, eventId: string, viewer: string): Promise<MatrixInbound | undefined> {
    const raw: unknown = await this.homeserver.intent(viewer).matrixClient.getRawEvent(roomId, eventId).catch(() => undefined);
    const reading = parseMatrixEvent(raw);
    return "event" in reading ? reading.event : undefined;
  }

  /** What a person wrote in a message, as XMPP text (for a quote); undefined when it is no message or cannot be read. */
  async messageText(roomId: string, eventId: string, viewer: string): Promise<string | undefined> {
    const event = await this.event(roomId, eventId, viewer);
    return event?.kind === "message" ? fromMatrixContent(event.message)?.body : undefined;
  }

  /** Sets the room topic as the bot, unless it is that already. */
  async setTopic(roomId: string, topic: string): Promise<void> {
    await this.setStateField(roomId, "m.room.topic", "topic", topic);
  }

  /** Sets the room name as the bot, unless it is that already. */
  async setRoomName(roomId: string, name: string): Promise<void> {
    await this.setStateField(roomId, "m.room.name", "name", name);
  }

  /** Sets the room avatar as the bot ("" removes it), unless it is that already. */
  async setRoomAvatar(roomId: string, mxc: string): Promise<void> {
    // An m.room.avatar without url is the spec's "no avatar".
    await this.setStateField(roomId, "m.room.avatar", "url", mxc, mxc ? { url: mxc } : {});
  }

  /** A room state event's string field, as the bot sees it; "" when unset. */
  async stateField(roomId: string, type: string, field: string): Promise<string> {
    const content = (await this.homeserver.bot.matrixClient.getRoomStateEvent(roomId, type, "").catch(() => ({}))) as Record<string, unknown>;
    const value = content[field];
    return typeof value === "string" ? value : "";
  }

  /** Sends room state as the bot unless its field already holds the value. */
  private async setStateField(roomId: string, type: string, field: string, value: string, content: Record<string, unknown> = { [field]: value }): Promise<void> {
    if ((await this.stateField(roomId, type, field)) === value) return;
    await this.homeserver.bot.sendStateEvent(roomId, type, "", content);
  }

  /** A page of the homeserver's public room directory, after `since` (the token of the page before). */
  async publicRooms(limit: number, since: string | undefined): Promise<{ rooms: { roomId: string; alias?: string; name?: string }[]; next?: string; total?: number }> {
    const query: Record<string, string> = { limit: String(limit), ...(since ? { since } : {}) };
    const page = (await this.homeserver.bot.matrixClient.doRequest("GET", "/_matrix/client/v3/publicRooms", query)) as {
      chunk?: { room_id: string; canonical_alias?: string; name?: string }[];
      next_batch?: string;
      total_room_count_estimate?: number;
    };
    const rooms = (page.chunk ?? []).map((r) => ({ roomId: r.room_id, ...(r.canonical_alias ? { alias: r.canonical_alias } : {}), ...(r.name ? { name: r.name } : {}) }));
    return { rooms, ...(page.next_batch ? { next: page.next_batch } : {}), ...(page.total_room_count_estimate !== undefined ? { total: page.total_room_count_estimate } : {}) };
  }

  /** What the homeserver tells anyone of a room it lets be previewed (a public one): undefined for others. */
  async summary(roomId: string): Promise<RoomSummary | undefined> {
    const path = `/_matrix/client/v1/rooms/${encodeURIComponent(roomId)}/hierarchy`;
    const answer = (await this.homeserver.bot.matrixClient.doRequest("GET", path, { max_depth: "0", limit: "1" }).catch(() => undefined)) as
      | { rooms?: { room_id: string; name?: string; topic?: string; num_joined_members?: number; join_rule?: string }[] }
      | undefined;
    const room = answer?.rooms?.find((r) => r.room_id === roomId);
    if (!room) return undefined;
    return { members: room.num_joined_members ?? 0, open: room.join_rule === "public", ...(room.name ? { name: room.name } : {}), ...(room.topic ? { topic: room.topic } : {}) };
  }

  /** The room an alias names; undefined when the homeserver knows none. */
  async resolveAlias(alias: string): Promise<string | undefined> {
    try {
      const answer = (await this.homeserver.bot.matrixClient.doRequest("GET", `/_matrix/client/v3/directory/room/${encodeURIComponent(alias)}`)) as { room_id?: string };
      return answer.room_id;
    } catch (err) {
      if (matrixErrorCode(err) === "M_NOT_FOUND") return undefined;
      throw err;
    }
  }

  /** What a member (`viewer`) sees of a room: who is in it and their display names, the power levels, the topic. */
  async roomView(roomId: string, viewer: string): Promise<RoomView> {
    const client = this.homeserver.intent(viewer).matrixClient;
    const path = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}`;
    const [joined, levels, topic] = await Promise.all([
      client.doRequest("GET", `${path}/joined_members`) as Promise<{ joined?: Record<string, { display_name?: string }> }>,
      client.getRoomStateEvent(roomId, "m.room.power_levels", "").catch(() => ({})) as Promise<PowerLevels>,
      client.getRoomStateEvent(roomId, "m.room.topic", "").catch(() => ({})) as Promise<{ topic?: unknown }>,
    ]);
    const members = new Map(Object.entries(joined.joined ?? {}).map(([userId, member]) => [userId, member.display_name ?? undefined]));
    return { members, levels, topic: typeof topic.topic === "string" ? topic.topic : "" };
  }

  /**
   * A page of the room's messages as `viewer` sees them, oldest first: the `limit` events after one
   * event, before one, or the latest. `complete`: nothing further that way.
   */
  async messagesAround(roomId: string, viewer: string, anchor: { after?: string; before?: string }, limit: number): Promise<{ messages: RoomMessage[]; complete: boolean }> {
    const client = this.homeserver.intent(viewer).matrixClient;
    const path = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}`;
    const from = async (eventId: string, side: "start" | "end") =>
      ((await client.doRequest("GET", `${path}/context/${encodeURIComponent(eventId)}`, { limit: "0" })) as { start?: string; end?: string })[side];
    const dir = anchor.after ? "f" : "b";
    let token = anchor.after ? await from(anchor.after, "end") : anchor.before ? await from(anchor.before, "start") : undefined;
    const messages: RoomMessage[] = [];
    // Pages of events hold state events too: they are read until enough messages are found, or the room's end.
    for (let pages = 0; pages < MAX_PAGES_PER_QUERY; pages++) {
      const page = (await client.doRequest("GET", `${path}/messages`, { dir, limit: String(limit), ...(token ? { from: token } : {}) })) as { chunk?: unknown[]; end?: string };
      messages.push(...readMessages(page.chunk ?? []));
      if (!page.end || (page.chunk ?? []).length === 0) return { messages: ordered(messages.slice(0, limit), dir), complete: messages.length <= limit };
      token = page.end;
      if (messages.length >= limit) break;
    }
    return { messages: ordered(messages.slice(0, limit), dir), complete: false };
  }

  /** The bot's notice in the room; with `replyTo`, a reply to that event, which it is about. */
  async notice(roomId: string, text: string, replyTo?: string): Promise<void> {
    await this.homeserver.bot.sendMessage(roomId, { msgtype: "m.notice", body: text, ...(replyTo ? { "m.relates_to": { "m.in_reply_to": { event_id: replyTo } } } : {}) });
  }

  private bridgeState(info: BridgeInfo): { type: string; state_key: string; content: Record<string, unknown> }[] {
    const content = {
      bridgebot: this.homeserver.botUserId,
      protocol: { id: "xmpp", displayname: "XMPP" },
      channel: { id: info.remoteId, ...(info.remoteName ? { displayname: info.remoteName } : {}) },
    };
    return BRIDGE_STATE_TYPES.map((type) => ({ type, state_key: `xmpp/${info.remoteId}`, content }));
  }
}
