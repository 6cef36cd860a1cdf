import { createHash } from "node:crypto";
import { xmppIdOf } from "../../core/conversations.js";
import { fromMatrixContent, MAX_MATRIX_BODY_BYTES, splitText, toMatrixContent, toXmppBody } from "../../core/messages.js";
import type { MatrixInboundOf, XmppEventOf, XmppInboundMessage } from "../../core/model.js";
import * as notices from "../../core/notices.js";
import type { MucOccupancy } from "../../xmpp/muc-occupancy.js";
import { deliver } from "../errors.js";
import type { GhostDestination, MatrixDestination } from "../destinations/matrix-destination.js";
import type { MessageOut, XmppDestination } from "../destinations/xmpp-destination.js";
import type { CapabilityDeps } from "./capability.js";
import { editOnMatrix, editToXmpp } from "./edits.js";
import type { Files } from "./files.js";
import { mentionReferences } from "./mentions.js";
import { replyToXmpp, withUnknownReplyQuoted } from "./replies.js";
import { relationOnMatrix, threadRootOf, threadToXmpp } from "./threads.js";

export interface MessagesDeps extends CapabilityDeps {
  files: Files;
  /** The MUCs' occupants, whom mentions name. */
  occupancy: MucOccupancy;
}

/**
 * A plain text message (`body` is its content's) as one event, or in parts when too big for one. Its
 * parts go as plain text: HTML cannot be cut at the same places.
 */
function textParts(content: Record<string, unknown>, body: string): Record<string, unknown>[] {
  const split = splitText(body, MAX_MATRIX_BODY_BYTES);
  return split.length === 1 ? [content] : split.map((part) => ({ msgtype: content.msgtype, body: part }));
}

/**
 * Messages both ways: text, and the relations and parts a message may carry (edits, replies, threads,
 * mentions, files, each in its own module), put together. A message with a relation is never split;
 * a reference the other side does not know degrades to plain text.
 */
export class Messages {
  constructor(private readonly deps: MessagesDeps) {}

  async fromMatrix({ sender, roomId, eventId, message }: MatrixInboundOf<"message">, destination: XmppDestination): Promise<void> {
    const { edit, replyTo, threadRoot } = message;
    // An edit of a file changes its caption (which XMPP got as a message of its own), not the file.
    const shared = edit ? undefined : message.file;
    const editedFile = edit?.newContent.file;
    const text = shared ? shared.caption : editedFile ? editedFile.caption : fromMatrixContent(edit?.newContent ?? message);
    if (!text && !shared) return;
    const id = xmppIdOf(eventId);
    let out: MessageOut = { id, body: text ? toXmppBody(text) : "" };
    if (threadRoot) out.thread = await threadToXmpp(this.deps, destination, threadRoot);
    if (edit) out = await editToXmpp(this.deps, destination, sender, edit, out);
    else if (replyTo) out = await replyToXmpp(this.deps, destination, replyTo, out, shared !== undefined);
    if (destination.muc && !shared) {
      const references = mentionReferences(this.deps.occupancy, this.deps.addressing, destination.muc, out.body, message.mentions);
      if (references.length > 0) out.references = references;
    }
    if (!(await destination.ready(sender))) return;
    // Recorded before sending: the MUC's reflection, which carries the stanza-id, may come back first. A
    // message that came from XMPP (a gateway room's occupant's, on its way to the others) is known already:
    // only there is it worth asking.
    const known = destination.link.kind === "gateway" && (await this.deps.store.messageByEventId(eventId)) !== undefined;
    if (!known) await this.deps.store.recordMessage({ roomId, eventId, conversation: destination.conversation, ids: { id, originId: id }, sender }, this.deps.messageMapSeconds);
    if (shared) await this.deps.files.toXmpp(destination, sender, out, shared.file);
    else await destination.send(sender, out);
    if (!edit) await this.deps.store.setLastMessage(destination.conversation, sender, eventId, this.deps.messageMapSeconds);
  }

  /** Sends an XMPP message's text and files (in parts when too big) as its sender's ghost, and records where it went. */
  async fromXmpp({ message }: XmppEventOf<"message">, { roomId, conversation, ghost, trail }: MatrixDestination): Promise<void> {
    if (!ghost || (message.body === "" && !message.files?.length)) return;
    const to: GhostDestination = { ghost, roomId, conversation, ...(trail ? { trail } : {}) };
    const eventOf = async (xmppId: string | undefined) => (xmppId ? this.deps.store.eventIdForXmppId(conversation, xmppId) : undefined);
    const edited = await eventOf(message.replaces);
    const repliedTo = await eventOf(message.replyTo?.id);
    const text = withUnknownReplyQuoted(message, repliedTo);
    const content = toMatrixContent(text);
    if (edited) return this.send(to, message, [editOnMatrix(content, text.body, edited)]);
    const threadRoot = await threadRootOf(this.deps, conversation, message.thread);
    const relation = relationOnMatrix(threadRoot, repliedTo);
    if (message.files?.length) {
      const parts = await this.deps.files.toMatrix(ghost, message.files, text.body.trim() !== "" ? text : undefined);
      // Every part of a thread stays in it; a reply is the first part's.
      return this.send(to, message, parts.map((part, i) => (relation && (i === 0 || threadRoot) ? { ...part, "m.relates_to": relation } : part)));
    }
    await this.send(to, message, relation ? [{ ...content, "m.relates_to": relation }] : textParts(content, text.body));
  }

  private async send({ ghost, roomId, conversation, trail }: GhostDestination, message: XmppInboundMessage, parts: Record<string, unknown>[]): Promise<void> {
    const source = message.ids.stanzaId ?? message.ids.originId ?? message.ids.id;
    // The same XMPP message always gets the same transaction IDs, so a retry cannot post it twice.
    const txnBase = source ? createHash("sha256").update(`${conversation}\n${source}`).digest("base64url").slice(0, 32) : `r${Date.now()}${Math.random().toString(36).slice(2)}`;
    let firstEventId: string | undefined;
    for (const [i, part] of parts.entries()) {
      const eventId = await deliver("send to Matrix", () => this.deps.rooms.send(ghost, roomId, part, `${txnBase}.${i}`, undefined, message.sentAt, trail));
      firstEventId ??= eventId;
    }
    if (firstEventId) await this.deps.store.recordMessage({ roomId, eventId: firstEventId, conversation, ids: message.ids, sender: ghost }, this.deps.messageMapSeconds);
  }

  /** A MUC echoed a puppet's message: the stanza-id it gave is what references to it use there. */
  async reflected({ muc, ids }: XmppEventOf<"reflection">): Promise<void> {
    const ours = ids.originId ?? ids.id;
    if (!ours || !ids.stanzaId) return;
    const eventId = await this.deps.store.eventIdForXmppId(muc, ours);
    const entry = eventId ? await this.deps.store.messageByEventId(eventId) : undefined;
    if (!entry) return;
    await this.deps.store.recordMessage({ ...entry, ids: { ...entry.ids, stanzaId: ids.stanzaId } }, this.deps.messageMapSeconds);
  }

  /** The MUC refused what a Matrix user's puppet sent (a message, a subject): they learn it in the room. */
  async refused({ muc, id, condition }: XmppEventOf<"refused">, { roomId }: MatrixDestination): Promise<void> {
    const eventId = await this.deps.store.eventIdForXmppId(muc, id);
    const entry = eventId ? await this.deps.store.messageByEventId(eventId) : undefined;
    if (!entry) return;
    const refused = await this.deps.rooms.event(roomId, entry.eventId, this.deps.botUserId);
    const what = refused?.kind === "room-state" && refused.field === "topic" ? "the new topic" : "a message";
    await deliver("notice", () => this.deps.rooms.notice(roomId, notices.mucRefused(muc, what, entry.sender, condition), entry.eventId));
  }
}
