import { asError } from "../core/errors.js";
import { ghostOfOccupant, jidOfGhost } from "../core/identity.js";
import * as notices from "../core/notices.js";
import { editFallbackBody, quoteFallback } from "../core/relations.js";
import { locateMentions } from "../core/mentions.js";
import { puppetAddress } from "../xmpp/puppet-address.js";
import { fromMatrixContent, toXmppBody } from "../core/messages.js";
import type { MatrixInboundOf, SharedFile } from "../core/model.js";
import type { ShareFile } from "./files-to-xmpp.js";
import { xmppIdOf } from "./xmpp-destination.js";
import { MucJoinError, type MucOccupancy } from "../xmpp/muc-occupancy.js";
import { renderMessage, type OutgoingMessage } from "../xmpp/stanzas.js";
import type { CapabilityDeps } from "./capabilities/capability.js";
import { deliver, isPassing } from "./errors.js";

export interface MatrixToXmppDeps extends CapabilityDeps {
  occupancy: MucOccupancy;
  /** Where XMPP users can fetch a Matrix file (its url an mxc:// URI) that `sender` shares. */
  shareFile: ShareFile;
}

/** Delivers what the homeserver sent, to XMPP, as puppets; only what users the bridge serves did reaches it. */
export class MatrixToXmpp {
  constructor(private readonly deps: MatrixToXmppDeps) {}

  async membership(event: MatrixInboundOf<"membership">): Promise<void> {
    const { sender, roomId, target, membership } = event;
    const link = await this.deps.store.linkByRoom(roomId);

    if (membership === "invite" && !link) {
      const xmppUser = jidOfGhost(target, this.deps.addressing);
      if (xmppUser) return this.openDirectChat(roomId, sender, target, xmppUser);
      return;
    }
    if (!link || link.kind === "dm" || target === this.deps.botUserId) return;
    if (membership === "join") {
      const { displayName } = event;
      const current = this.deps.occupancy.nickOf(link.muc, target);
      if (current !== undefined && displayName && displayName !== current) {
        await deliver("nick change", () => this.deps.occupancy.changeNick(link.muc, target, displayName));
        return;
      }
      try {
        await this.deps.puppets.join(link, target, displayName, roomId);
      } catch (err) {
        if (isPassing(err)) throw err;
        await this.deps.rooms.notice(roomId, notices.puppetCannotJoin(displayName ?? target, link.muc, err instanceof MucJoinError ? err.condition : asError(err).message));
      }
    } else if (membership === "leave" || membership === "ban") {
      await deliver("leave MUC", () => this.deps.occupancy.leave(link.muc, target, membership === "ban" ? "Banned on Matrix" : undefined));
    }
  }

  /** A Matrix user invited a ghost: the ghost accepts, and the room becomes their DM. */
  private async openDirectChat(roomId: string, matrixUser: string, ghost: string, xmppUser: string): Promise<void> {
    await deliver("ghost accepts invite", () => this.deps.rooms.ensureJoined(ghost, roomId));
    const previous = await this.deps.store.dmLink(matrixUser, xmppUser);
    if (previous && previous.roomId !== roomId) await this.deps.store.removeLink(previous);
    await this.deps.store.saveLink({ kind: "dm", roomId, matrixUser, xmppUser });
    this.deps.log.info({ roomId, matrixUser, xmppUser }, "a Matrix user opened a direct chat with an XMPP user");
  }

  /** XEP-0372 references for the MUC occupants a Matrix message mentions, where their nick stands in the text. */
  private mentionReferences(muc: string, body: string, userIds: readonly string[]): { begin: number; end: number; uri: string }[] {
    if (userIds.length === 0) return [];
    const mentioned = this.deps.occupancy
      .occupants(muc)
      .filter((o) => userIds.includes(ghostOfOccupant(o, this.deps.addressing)))
      .map((o) => ({ name: o.nick, matrixUser: ghostOfOccupant(o, this.deps.addressing) }));
    return locateMentions(body, mentioned).map(({ mention, begin, end }) => ({ begin, end, uri: `xmpp:${muc}/${encodeURIComponent(mention.name)}` }));
  }

  async message(event: MatrixInboundOf<"message">): Promise<void> {
    const { sender, roomId, eventId, message } = event;
    const link = await this.deps.store.linkByRoom(roomId);
    if (!link) return;
    const { edit, replyTo, threadRoot } = message;
    // An edit of a file's caption is no new file.
    const shared = edit ? undefined : message.file;
    // An edit of a file changes its caption, which XMPP got as a message of its own.
    const editedFile = edit?.newContent.file;
    const text = shared ? shared.caption : editedFile ? editedFile.caption : fromMatrixContent(edit?.newContent ?? message);
    if (!text && !shared) return;
    const target = this.deps.puppets.destination(link);
    const id = xmppIdOf(eventId);
    const out: OutgoingMessage = { from: puppetAddress(sender, this.deps.addressing), to: target.to, type: target.type, id, body: text ? toXmppBody(text) : "" };

    if (threadRoot) {
      // The thread id on XMPP is the root's id there; replies in it from XMPP find the root again by it.
      const root = await this.deps.store.messageByEventId(threadRoot);
      out.thread = root ? (root.ids.originId ?? root.ids.id ?? xmppIdOf(threadRoot)) : xmppIdOf(threadRoot);
      await this.deps.store.setThreadRoot(target.conversation, out.thread, threadRoot, this.deps.messageMapSeconds);
    }
    if (edit) {
      const original = await this.deps.store.messageByEventId(edit.target);
      const sent = original?.sender === sender ? (original.ids.originId ?? original.ids.id) : undefined;
      // Correcting the file message itself would replace the file with text: its caption message is corrected.
      const ref = sent && editedFile ? ((await this.hadCaption(roomId, edit.target, target.viewer)) ? `${sent}.caption` : undefined) : sent;
      // XMPP clients may only apply a correction to the sender's last message: others get a marked fallback.
      const last = ref ? (await this.deps.store.lastMessage(target.conversation, sender)) === edit.target : false;
      if (!last) out.body = editFallbackBody(out.body);
      if (ref) out.replaces = { id: ref, ...(last ? {} : { fallbackLength: 2 }) };
    } else if (replyTo) {
      const original = await this.deps.store.messageByEventId(replyTo);
      const ref = original ? target.refOf(original.ids) : undefined;
      if (ref) {
        const originalText = await this.deps.rooms.messageText(roomId, replyTo, target.viewer);
        // A file's body must stay its link alone.
        if (originalText && !shared) {
          const quote = quoteFallback(originalText);
          out.body = quote.text + out.body;
          out.reply = { id: ref, fallbackLength: quote.length };
        } else {
          out.reply = { id: ref, fallbackLength: 0 };
        }
      }
    }

    if (link.kind !== "dm" && !shared) {
      const references = this.mentionReferences(link.muc, out.body, message.mentions);
      if (references.length > 0) out.references = references;
    }
    if (!(await this.deps.puppets.ready(link, sender, roomId))) return;
    // Recorded before sending: the MUC's reflection, which carries the stanza-id, may come back first.
    await this.deps.store.recordMessage({ roomId, eventId, conversation: target.conversation, ids: { id, originId: id }, sender }, this.deps.messageMapSeconds);
    if (shared) {
      await this.sendFile(out, shared.file, sender, roomId);
    } else {
      await deliver("send to XMPP", () => this.deps.connection.send(renderMessage(out)));
    }
    if (!edit) await this.deps.store.setLastMessage(target.conversation, sender, eventId, this.deps.messageMapSeconds);
  }

  private async hadCaption(roomId: string, eventId: string, viewer: string): Promise<boolean> {
    const original = await this.deps.rooms.event(roomId, eventId, viewer);
    return original?.kind === "message" && original.message.file?.caption !== undefined;
  }

  /**
   * A file goes as its link alone in the body, which is what makes XMPP clients show it inline; a
   * caption follows as a message of its own. A reply keeps its reference but not its quote.
   */
  private async sendFile(out: OutgoingMessage, file: SharedFile, sender: string, roomId: string): Promise<void> {
    let shared: Awaited<ReturnType<ShareFile>>;
    try {
      shared = await this.deps.shareFile(file, sender);
    } catch (err) {
      if (isPassing(err)) throw err;
      this.deps.log.warn({ roomId, sender, file: file.url, err }, "a file could not be shared with XMPP");
      await this.deps.rooms.notice(roomId, notices.fileNotDelivered(file.name, asError(err).message));
      return;
    }
    const caption = out.body;
    const fileMessage: OutgoingMessage = { ...out, body: shared.url, file: { ...file, ...shared } };
    if (out.reply) fileMessage.reply = { ...out.reply, fallbackLength: 0 };
    await deliver("send to XMPP", () => this.deps.connection.send(renderMessage(fileMessage)));
    if (caption.trim() !== "") {
      const { reply: _reply, ...plain } = out;
      await deliver("send to XMPP", () => this.deps.connection.send(renderMessage({ ...plain, id: `${out.id}.caption` })));
    }
  }
}
