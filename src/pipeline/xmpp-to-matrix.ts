import { createHash } from "node:crypto";
import { ghostOfOccupant, ghostUserId, jidLocalpart, type AddressingConfig } from "../core/identity.js";
import * as notices from "../core/notices.js";
import { MAX_MATRIX_BODY_BYTES, splitText, toMatrixContent } from "../core/messages.js";
import { editFallbackBody, threadRelation } from "../core/relations.js";
import type { Link, OccupantPresence, XmppEventOf, XmppInboundMessage } from "../core/model.js";
import type { Logger } from "../log.js";
import type { MatrixRooms } from "../matrix/rooms.js";
import type { BridgeStore } from "../store/store.js";
import { dmConversation } from "../xmpp/inbound.js";
import { deliver } from "./errors.js";
import type { Reactions } from "./capabilities/reactions.js";
import type { Receipts } from "./capabilities/receipts.js";
import type { Redactions } from "./capabilities/redactions.js";
import type { Typing } from "./capabilities/typing.js";
import type { FilesToMatrix } from "./files-to-matrix.js";
import type { GhostProfiles, ProfileSource } from "./profiles.js";


/**
 * A plain text message (`body` is its content's) as one event, or in parts when too big for one. Its
 * parts go as plain text: HTML cannot be cut at the same places.
 */
function textParts(content: Record<string, unknown>, body: string): Record<string, unknown>[] {
  const split = splitText(body, MAX_MATRIX_BODY_BYTES);
  return split.length === 1 ? [content] : split.map((part) => ({ msgtype: content.msgtype, body: part }));
}

export interface XmppToMatrixDeps {
  store: BridgeStore;
  rooms: MatrixRooms;
  addressing: AddressingConfig;
  messageMapSeconds: number;
  profiles: GhostProfiles;
  botUserId: string;
  files: FilesToMatrix;
  reactions: Reactions;
  redactions: Redactions;
  receipts: Receipts;
  typing: Typing;
  log: Logger;
}

/** Delivers what the XMPP side queued, to Matrix, as ghosts. */
export class XmppToMatrix {
  constructor(private readonly deps: XmppToMatrixDeps) {}

  async message({ message }: XmppEventOf<"message">): Promise<void> {
    return message.conversation.kind === "dm" ? this.directMessage(message) : this.groupMessage(message);
  }

  async occupant({ presence, change, via }: XmppEventOf<"occupant">): Promise<void> {
    return this.occupantChanged(presence, change, via);
  }

  private ghostOf(presence: { muc: string; occupantKey: string; realJid?: string }): string {
    return ghostOfOccupant(presence, this.deps.addressing);
  }

  private async directMessage(message: XmppInboundMessage): Promise<void> {
    if (message.conversation.kind !== "dm") return;
    const { xmppUser, matrixUser } = message.conversation;
    const ghost = ghostUserId(xmppUser, this.deps.addressing);
    const { senderName } = message;
    await deliver("ghost profile", () => (senderName ? this.deps.rooms.ensureGhost(ghost, senderName) : this.deps.profiles.firstSight(ghost, xmppUser, jidLocalpart(xmppUser))));
    const roomId = await deliver("direct room", () => this.directRoom(ghost, xmppUser, matrixUser));
    await this.post(ghost, roomId, dmConversation(xmppUser, matrixUser), message);
  }

  /**
   * The DM room of this pair. Checked on every message, so that a user who left is invited back and
   * never misses one; a new room is opened if the ghost is no longer in the old one or the user is banned.
   */
  private async directRoom(ghost: string, xmppUser: string, matrixUser: string): Promise<string> {
    const link = await this.deps.store.dmLink(matrixUser, xmppUser);
    if (link) {
      const [ghostIn, userIn] = await Promise.all([this.deps.rooms.membership(link.roomId, ghost, ghost), this.deps.rooms.membership(link.roomId, matrixUser, ghost)]);
      if (ghostIn === "join" && userIn !== "ban") {
        if (userIn !== "join" && userIn !== "invite") {
          this.deps.log.info({ roomId: link.roomId, matrixUser }, "inviting the Matrix user back into the DM");
          await this.deps.rooms.invite(ghost, link.roomId, matrixUser);
        }
        return link.roomId;
      }
      await this.deps.store.removeLink(link);
    }
    const roomId = await this.deps.rooms.createDirectRoom(ghost, matrixUser, { remoteId: xmppUser });
    await this.deps.store.saveLink({ kind: "dm", roomId, matrixUser, xmppUser });
    this.deps.log.info({ roomId, matrixUser, xmppUser }, "opened a direct room");
    return roomId;
  }

  private async portal(muc: string): Promise<Link | undefined> {
    const link = await this.deps.store.linkByMuc(muc);
    if (!link) this.deps.log.debug({ muc }, "nothing bridged to this MUC");
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
    await this.deps.store.setMucDeliveredUntil(muc, message.sentAt ?? Date.now());
  }

  /**
   * An occupant's ghost is in the room: the ghost of a hidden occupant is named by the nick; the
   * ghost of a real JID keeps its own name (profile, else localpart), the nick naming it in this room only.
   */
  private async enterRoom(ghost: string, roomId: string, occupant: { nick: string; realJid?: string }): Promise<void> {
    const { nick, realJid } = occupant;
    await deliver("ghost profile", () => (realJid ? this.deps.profiles.firstSight(ghost, realJid, jidLocalpart(realJid)) : this.deps.rooms.ensureGhost(ghost, nick)));
    await deliver("ghost join", () => this.deps.rooms.ensureJoined(ghost, roomId));
  }

  /**
   * The occupant announced an avatar hash: the ghost follows. A hidden occupant's profile is asked
   * through the room, from the puppet that heard it; only a real JID's vCard names the ghost.
   */
  private async occupantAvatar(ghost: string, presence: OccupantPresence, via: string | undefined): Promise<boolean> {
    if (presence.avatarHash === undefined) return false;
    const source: ProfileSource = presence.realJid ? { jid: presence.realJid } : { jid: `${presence.muc}/${presence.nick}`, ...(via ? { from: via } : {}) };
    return this.deps.profiles.noteAvatarHash(source, presence.avatarHash, ghost, presence.realJid !== undefined);
  }

  /**
   * Sends the message (in parts when too big) and records where it went. Corrections, replies and
   * retractions point at the Matrix event of the message they reference; an unknown reference
   * degrades to plain text (a retraction of an unknown message to nothing).
   */
  private async post(ghost: string, roomId: string, conversation: string, message: XmppInboundMessage): Promise<void> {
    const target = async (xmppId: string | undefined) => (xmppId ? this.deps.store.eventIdForXmppId(conversation, xmppId) : undefined);
    if (message.retracts !== undefined) return this.deps.redactions.retractedOnXmpp({ ghost, roomId, conversation }, message.retracts);
    if (message.reactions) return this.deps.reactions.toMatrix({ ghost, roomId, conversation }, message.reactions, message.ids);
    if (message.displayed) await this.deps.receipts.toMatrix({ ghost, roomId, conversation }, message.displayed);
    if (message.typing !== undefined) await this.deps.typing.toMatrix({ ghost, roomId, conversation }, message.typing, message.body !== "");
    if (message.body === "" && !message.files?.length) return;
    const edited = await target(message.replaces);
    const repliedTo = await target(message.replyTo?.id);
    const text = message.replyTo && !repliedTo ? { ...message, body: message.replyTo.quote + message.body } : message;
    // Only threads Matrix started are threads on Matrix: many XMPP clients put every message in a <thread>.
    const threadRoot = message.thread ? await this.deps.store.threadRoot(conversation, message.thread) : undefined;
    const content = toMatrixContent(text);
    // A message with a relation stays one event: it is never split.
    if (edited) {
      const edit = { ...content, body: editFallbackBody(text.body), "m.new_content": content, "m.relates_to": { rel_type: "m.replace", event_id: edited } };
      return this.send(ghost, roomId, conversation, message, [edit]);
    }
    const relation = threadRoot ? threadRelation(threadRoot, repliedTo) : repliedTo ? { "m.in_reply_to": { event_id: repliedTo } } : undefined;
    if (message.files?.length) {
      const parts = await this.deps.files.contents(ghost, message.files, text.body.trim() !== "" ? text : undefined);
      // Every part of a thread stays in it; a reply is the first part's.
      const related = parts.map((part, i) => (relation && (i === 0 || threadRoot) ? { ...part, "m.relates_to": relation } : part));
      return this.send(ghost, roomId, conversation, message, related);
    }
    await this.send(ghost, roomId, conversation, message, relation ? [{ ...content, "m.relates_to": relation }] : textParts(content, text.body));
  }

  private async send(ghost: string, roomId: string, conversation: string, message: XmppInboundMessage, parts: Record<string, unknown>[]): Promise<void> {
    const source = message.ids.stanzaId ?? message.ids.originId ?? message.ids.id;
    // The same XMPP message always gets the same transaction IDs, so a retry cannot post it twice.
    const txnBase = source ? createHash("sha256").update(`${conversation}\n${source}`).digest("base64url").slice(0, 32) : `r${Date.now()}${Math.random().toString(36).slice(2)}`;
    let firstEventId: string | undefined;
    for (const [i, part] of parts.entries()) {
      const eventId = await deliver("send to Matrix", () => this.deps.rooms.send(ghost, roomId, part, `${txnBase}.${i}`));
      firstEventId ??= eventId;
    }
    if (firstEventId) await this.deps.store.recordMessage({ roomId, eventId: firstEventId, conversation, ids: message.ids, sender: ghost }, this.deps.messageMapSeconds);
  }

  private async occupantChanged(presence: OccupantPresence, change: "joined" | "left" | "renamed" | "avatar", via: string | undefined): Promise<void> {
    const link = await this.portal(presence.muc);
    if (!link) return;
    const ghost = this.ghostOf(presence);
    if (change === "joined") {
      // The avatar first: set once the ghost is in, it would be written over the room's nick.
      await this.occupantAvatar(ghost, presence, via);
      await this.enterRoom(ghost, link.roomId, presence);
      if (presence.realJid) await deliver("room nick", () => this.deps.rooms.setRoomNick(ghost, link.roomId, presence.nick));
    } else if (change === "avatar") {
      // The homeserver writes a new global avatar over per-room names: the nick is given again.
      if ((await this.occupantAvatar(ghost, presence, via)) && presence.realJid) await deliver("room nick", () => this.deps.rooms.setRoomNick(ghost, link.roomId, presence.nick));
    } else if (change === "renamed" && presence.newNick) {
      await deliver("room nick", () => this.deps.rooms.setRoomNick(ghost, link.roomId, presence.newNick!));
    } else if (change === "left") {
      await deliver("ghost leave", () => this.deps.rooms.leave(ghost, link.roomId));
    }
  }

  /** The MUC refused what a Matrix user's puppet sent: they learn it in the room. */
  async refused({ muc, id, condition }: XmppEventOf<"refused">): Promise<void> {
    const link = await this.portal(muc);
    const eventId = link ? await this.deps.store.eventIdForXmppId(muc, id) : undefined;
    const entry = eventId ? await this.deps.store.messageByEventId(eventId) : undefined;
    if (!link || !entry) return;
    const refused = await this.deps.rooms.event(link.roomId, entry.eventId, this.deps.botUserId);
    const what = refused?.kind === "room-state" && refused.field === "topic" ? "the new topic" : "a message";
    await deliver("notice", () => this.deps.rooms.notice(link.roomId, notices.mucRefused(muc, what, entry.sender, condition)));
  }

  /** Every puppet hears the subject on joining: the topic is only written when it differs. */
  async subject({ muc, subject }: XmppEventOf<"subject">): Promise<void> {
    const link = await this.portal(muc);
    if (!link) return;
    await deliver("room topic", () => this.deps.rooms.setTopic(link.roomId, subject));
  }

  async reflection({ muc, ids }: XmppEventOf<"reflection">): Promise<void> {
    const ours = ids.originId ?? ids.id;
    if (!ours || !ids.stanzaId) return;
    const eventId = await this.deps.store.eventIdForXmppId(muc, ours);
    const entry = eventId ? await this.deps.store.messageByEventId(eventId) : undefined;
    if (!entry) return;
    await this.deps.store.recordMessage({ ...entry, ids: { ...entry.ids, stanzaId: ids.stanzaId } }, this.deps.messageMapSeconds);
  }
}
