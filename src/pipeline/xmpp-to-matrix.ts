import { createHash } from "node:crypto";
import { ghostOfOccupant, ghostUserId, jidLocalpart, splitJid, type AddressingConfig } from "../core/identity.js";
import { MAX_MATRIX_BODY_BYTES, splitText, toMatrixContent } from "../core/messages.js";
import { editFallbackBody, threadRelation } from "../core/relations.js";
import type { Link, OccupantPresence, XmppEvent, XmppInboundMessage } from "../core/model.js";
import type { Logger } from "../log.js";
import type { MatrixRooms } from "../matrix/rooms.js";
import type { BridgeStore } from "../store/store.js";
import { dmConversation } from "../xmpp/inbound.js";
import { deliver } from "./errors.js";
import type { FilesToMatrix } from "./files-to-matrix.js";
import type { GhostProfiles, ProfileSource } from "./profiles.js";
import type { RoomMetadataToMatrix } from "./room-metadata-to-matrix.js";
import * as notices from "../core/notices.js";

/**
 * A text message as one event, or in parts when too big for one. Only a plain message is split (a
 * relation must stay one event), and its parts go as plain text: HTML cannot be cut at the same places.
 */
function textParts(content: Record<string, unknown>, fallbackBody: string): Record<string, unknown>[] {
  const body = typeof content.body === "string" ? content.body : fallbackBody;
  const split = content["m.relates_to"] ? [body] : splitText(body, MAX_MATRIX_BODY_BYTES);
  return split.length === 1 ? [content] : split.map((part) => ({ msgtype: content.msgtype, body: part }));
}

/** Delivers what the XMPP side queued, to Matrix, as ghosts. */
export class XmppToMatrix {
  constructor(
    private readonly store: BridgeStore,
    private readonly rooms: MatrixRooms,
    private readonly addressing: AddressingConfig,
    private readonly messageMapSeconds: number,
    private readonly profiles: GhostProfiles,
    private readonly roomMetadata: RoomMetadataToMatrix,
    private readonly botUserId: string,
    private readonly files: FilesToMatrix,
    private readonly log: Logger,
  ) {}

  async handle(event: XmppEvent): Promise<void> {
    switch (event.kind) {
      case "message":
        return event.message.conversation.kind === "dm" ? this.directMessage(event.message) : this.groupMessage(event.message);
      case "occupant":
        return event.puppetOf ? this.puppetRemoved(event.presence, event.puppetOf) : this.occupantChanged(event.presence, event.change, event.via);
      case "reflection":
        return this.reflection(event.muc, event);
      case "subject":
        return this.subject(event.muc, event.subject);
      case "moderation":
        return this.moderation(event.muc, event.stanzaId, event.by, event.reason);
      case "room-changed":
        return this.roomMetadata.mucChanged(event.muc, event.avatarHash);
      case "refused":
        return this.refused(event.muc, event.id, event.condition);
    }
  }

  private ghostOf(presence: { muc: string; occupantKey: string; realJid?: string }): string {
    return ghostOfOccupant(presence, this.addressing);
  }

  private async directMessage(message: XmppInboundMessage): Promise<void> {
    if (message.conversation.kind !== "dm") return;
    const { xmppUser, matrixUser } = message.conversation;
    const ghost = ghostUserId(xmppUser, this.addressing);
    const { senderName } = message;
    await deliver("ghost profile", () => (senderName ? this.rooms.ensureGhost(ghost, senderName) : this.profiles.firstSight(ghost, xmppUser, jidLocalpart(xmppUser))));
    const roomId = await deliver("direct room", () => this.directRoom(ghost, xmppUser, matrixUser));
    await this.post(ghost, roomId, dmConversation(xmppUser, matrixUser), message);
  }

  /**
   * The DM room of this pair. Checked on every message, so that a user who left is invited back and
   * never misses one; a new room is opened if the ghost is no longer in the old one or the user is banned.
   */
  private async directRoom(ghost: string, xmppUser: string, matrixUser: string): Promise<string> {
    const link = await this.store.dmLink(matrixUser, xmppUser);
    if (link) {
      const [ghostIn, userIn] = await Promise.all([this.rooms.membership(link.roomId, ghost, ghost), this.rooms.membership(link.roomId, matrixUser, ghost)]);
      if (ghostIn === "join" && userIn !== "ban") {
        if (userIn !== "join" && userIn !== "invite") {
          this.log.info({ roomId: link.roomId, matrixUser }, "inviting the Matrix user back into the DM");
          await this.rooms.invite(ghost, link.roomId, matrixUser);
        }
        return link.roomId;
      }
      await this.store.removeLink(link);
    }
    const roomId = await this.rooms.createDirectRoom(ghost, matrixUser, { remoteId: xmppUser });
    await this.store.saveLink({ kind: "dm", roomId, matrixUser, xmppUser });
    this.log.info({ roomId, matrixUser, xmppUser }, "opened a direct room");
    return roomId;
  }

  private async portal(muc: string): Promise<Link | undefined> {
    const link = await this.store.linkByMuc(muc);
    if (!link) this.log.debug({ muc }, "nothing bridged to this MUC");
    return link;
  }

  private async groupMessage(message: XmppInboundMessage): Promise<void> {
    if (message.conversation.kind !== "muc") return;
    const { muc } = message.conversation;
    const link = await this.portal(muc);
    if (!link) return;
    const ghost = this.ghostOf(message.conversation);
    await this.enterRoom(ghost, link.roomId, message.conversation);
    await this.post(ghost, link.roomId, muc, message);
    await this.store.setMucDeliveredUntil(muc, message.sentAt ?? Date.now());
  }

  /**
   * An occupant's ghost is in the room: the ghost of a hidden occupant is named by the nick; the
   * ghost of a real JID keeps its own name (profile, else localpart), the nick naming it in this room only.
   */
  private async enterRoom(ghost: string, roomId: string, occupant: { nick: string; realJid?: string }): Promise<void> {
    const { nick, realJid } = occupant;
    await deliver("ghost profile", () => (realJid ? this.profiles.firstSight(ghost, realJid, jidLocalpart(realJid)) : this.rooms.ensureGhost(ghost, nick)));
    await deliver("ghost join", () => this.rooms.ensureJoined(ghost, roomId));
  }

  /**
   * The occupant announced an avatar hash: the ghost follows. A hidden occupant's profile is asked
   * through the room, from the puppet that heard it; only a real JID's vCard names the ghost.
   */
  private async occupantAvatar(ghost: string, presence: OccupantPresence, via: string | undefined): Promise<boolean> {
    if (presence.avatarHash === undefined) return false;
    const source: ProfileSource = presence.realJid ? { jid: presence.realJid } : { jid: `${presence.muc}/${presence.nick}`, ...(via ? { from: via } : {}) };
    return this.profiles.noteAvatarHash(source, presence.avatarHash, ghost, presence.realJid !== undefined);
  }

  /**
   * Sends the message (in parts when too big) and records where it went. Corrections, replies and
   * retractions point at the Matrix event of the message they reference; an unknown reference
   * degrades to plain text (a retraction of an unknown message to nothing).
   */
  private async post(ghost: string, roomId: string, conversation: string, message: XmppInboundMessage): Promise<void> {
    const target = async (xmppId: string | undefined) => (xmppId ? this.store.eventIdForXmppId(conversation, xmppId) : undefined);
    if (message.retracts !== undefined) {
      const eventId = await target(message.retracts);
      if (eventId) await deliver("redact", () => this.rooms.redact(ghost, roomId, eventId, "Retracted on XMPP"));
      else this.log.debug({ conversation, id: message.retracts }, "retraction of a message the bridge does not know");
      return;
    }
    if (message.reactions) {
      const reacted = await target(message.reactions.id);
      if (reacted) await this.react(ghost, roomId, reacted, message.reactions.emojis, message.ids.stanzaId ?? message.ids.originId ?? message.ids.id ?? String(Date.now()));
      else this.log.debug({ conversation, id: message.reactions.id }, "reactions to a message the bridge does not know");
      return;
    }
    if (message.displayed) {
      const read = await target(message.displayed);
      if (read) await deliver("read receipt", () => this.rooms.readReceipt(ghost, roomId, read));
    }
    if (message.typing !== undefined && (message.body === "" || !message.typing)) {
      await deliver("typing", () => this.rooms.typing(ghost, roomId, message.typing!));
    }
    if (message.body === "" && !message.files?.length) return;
    const edited = await target(message.replaces);
    const repliedTo = await target(message.replyTo?.id);
    const text = message.replyTo && !repliedTo ? { ...message, body: message.replyTo.quote + message.body } : message;
    // Only threads Matrix started are threads on Matrix: many XMPP clients put every message in a <thread>.
    const threadRoot = message.thread ? await this.store.threadRoot(conversation, message.thread) : undefined;
    let content = toMatrixContent(text);
    if (edited) content = { ...content, body: editFallbackBody(text.body), "m.new_content": content, "m.relates_to": { rel_type: "m.replace", event_id: edited } };
    else if (threadRoot) content = { ...content, "m.relates_to": threadRelation(threadRoot, repliedTo) };
    else if (repliedTo) content = { ...content, "m.relates_to": { "m.in_reply_to": { event_id: repliedTo } } };
    if (message.files?.length && !edited) {
      const relation = content["m.relates_to"] as { rel_type?: string } | undefined;
      const parts = await this.files.contents(ghost, message.files, text.body.trim() !== "" ? text : undefined);
      // Every part of a thread stays in it; a reply is the first part's.
      const related = parts.map((part, i) => (relation && (i === 0 || relation.rel_type === "m.thread") ? { ...part, "m.relates_to": relation } : part));
      return this.send(ghost, roomId, conversation, message, related);
    }
    await this.send(ghost, roomId, conversation, message, textParts(content, message.body));
  }

  /** Brings the ghost's reactions to the event in line with the set XMPP sent (XEP-0444 sends them all). */
  private async react(ghost: string, roomId: string, target: string, emojis: readonly string[], sourceId: string): Promise<void> {
    const current = await this.store.reactionsOf(target, ghost);
    for (const [key, eventId] of current) {
      if (emojis.includes(key)) continue;
      await deliver("unreact", () => this.rooms.redact(ghost, roomId, eventId));
      await this.store.forgetReaction({ target, sender: ghost, key, eventId });
    }
    for (const key of emojis) {
      if (current.has(key)) continue;
      // Keyed by the XMPP stanza too: an emoji taken back and given again is a new reaction.
      const txnId = createHash("sha256").update(`${sourceId}\n${target}\n${ghost}\n${key}`).digest("base64url").slice(0, 32);
      const content = { "m.relates_to": { rel_type: "m.annotation", event_id: target, key } };
      const eventId = await deliver("react", () => this.rooms.send(ghost, roomId, content, txnId, "m.reaction"));
      await this.store.recordReaction({ target, sender: ghost, key, eventId }, this.messageMapSeconds);
    }
  }

  private async send(ghost: string, roomId: string, conversation: string, message: XmppInboundMessage, parts: Record<string, unknown>[]): Promise<void> {
    const source = message.ids.stanzaId ?? message.ids.originId ?? message.ids.id;
    // The same XMPP message always gets the same transaction IDs, so a retry cannot post it twice.
    const txnBase = source ? createHash("sha256").update(`${conversation}\n${source}`).digest("base64url").slice(0, 32) : `r${Date.now()}${Math.random().toString(36).slice(2)}`;
    let firstEventId: string | undefined;
    for (const [i, part] of parts.entries()) {
      const eventId = await deliver("send to Matrix", () => this.rooms.send(ghost, roomId, part, `${txnBase}.${i}`));
      firstEventId ??= eventId;
    }
    if (firstEventId) await this.store.recordMessage({ roomId, eventId: firstEventId, conversation, ids: message.ids, sender: ghost }, this.messageMapSeconds);
  }

  private async occupantChanged(presence: OccupantPresence, change: "joined" | "left" | "renamed" | "avatar", via: string | undefined): Promise<void> {
    const link = await this.portal(presence.muc);
    if (!link) return;
    const ghost = this.ghostOf(presence);
    if (change === "joined") {
      // The avatar first: set once the ghost is in, it would be written over the room's nick.
      await this.occupantAvatar(ghost, presence, via);
      await this.enterRoom(ghost, link.roomId, presence);
      if (presence.realJid) await deliver("room nick", () => this.rooms.setRoomNick(ghost, link.roomId, presence.nick));
    } else if (change === "avatar") {
      // The homeserver writes a new global avatar over per-room names: the nick is given again.
      if ((await this.occupantAvatar(ghost, presence, via)) && presence.realJid) await deliver("room nick", () => this.rooms.setRoomNick(ghost, link.roomId, presence.nick));
    } else if (change === "renamed" && presence.newNick) {
      await deliver("room nick", () => this.rooms.setRoomNick(ghost, link.roomId, presence.newNick!));
    } else if (change === "left") {
      const reason = presence.removedBy ? `${presence.removedBy === "ban" ? "Banned" : "Kicked"} on XMPP` : undefined;
      await deliver("ghost leave", () => (reason ? this.rooms.kick(link.roomId, ghost, reason) : this.rooms.leave(ghost, link.roomId)));
    }
  }

  /** The MUC refused what a Matrix user's puppet sent: they learn it in the room. */
  private async refused(muc: string, id: string, condition: string | undefined): Promise<void> {
    const link = await this.portal(muc);
    const eventId = link ? await this.store.eventIdForXmppId(muc, id) : undefined;
    const entry = eventId ? await this.store.messageByEventId(eventId) : undefined;
    if (!link || !entry) return;
    const content = await this.rooms.eventContent(link.roomId, entry.eventId, this.botUserId);
    const what = typeof content?.topic === "string" ? "the new topic" : "a message";
    await deliver("notice", () => this.rooms.notice(link.roomId, notices.mucRefused(muc, what, entry.sender, condition)));
  }

  /** A MUC moderator removed a message: the bot redacts its Matrix event. */
  private async moderation(muc: string, stanzaId: string, by: string | undefined, reason: string | undefined): Promise<void> {
    const link = await this.portal(muc);
    const eventId = link ? await this.store.eventIdForXmppId(muc, stanzaId) : undefined;
    if (!link || !eventId) return;
    const why = `Removed on XMPP${by ? ` by ${splitJid(by).resource ?? by}` : ""}${reason ? `: ${reason}` : ""}`;
    await deliver("redact", () => this.rooms.redact(this.botUserId, link.roomId, eventId, why));
  }

  /** Every puppet hears the subject on joining: the topic is only written when it differs. */
  private async subject(muc: string, subject: string): Promise<void> {
    const link = await this.portal(muc);
    if (!link) return;
    await deliver("room topic", () => this.rooms.setTopic(link.roomId, subject));
  }

  /** A moderator removed a Matrix user's puppet: a portal follows the MUC, a plumbed room is told. */
  private async puppetRemoved(presence: OccupantPresence, matrixUser: string): Promise<void> {
    const link = await this.portal(presence.muc);
    if (!link || link.kind === "dm") return;
    const what = presence.removedBy === "ban" ? "banned" : "kicked";
    if (link.kind === "portal") {
      await deliver("kick", () => this.rooms.kick(link.roomId, matrixUser, `You were ${what} from ${presence.muc} on XMPP`));
    } else {
      await deliver("notice", () => this.rooms.notice(link.roomId, notices.puppetRemoved(matrixUser, what, presence.muc)));
    }
  }

  private async reflection(muc: string, event: { ids: { id?: string; originId?: string; stanzaId?: string } }): Promise<void> {
    const ours = event.ids.originId ?? event.ids.id;
    if (!ours || !event.ids.stanzaId) return;
    const eventId = await this.store.eventIdForXmppId(muc, ours);
    const entry = eventId ? await this.store.messageByEventId(eventId) : undefined;
    if (!entry) return;
    await this.store.recordMessage({ ...entry, ids: { ...entry.ids, stanzaId: event.ids.stanzaId } }, this.messageMapSeconds);
  }
}
