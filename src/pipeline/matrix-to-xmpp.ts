import { ghostOfOccupant, isGhost, jidOfGhost, matrixLocalpart, type AddressingConfig } from "../core/identity.js";
import { editFallbackBody, quoteFallback, readMatrixRelation } from "../core/relations.js";
import { locateMentions } from "../core/mentions.js";
import { stripMatrixReplyFallback } from "../core/formatting.js";
import { hasPermission, type PermissionLevel } from "../core/permissions.js";
import { puppetAddress } from "../xmpp/puppet-address.js";
import { fromMatrixContent, toXmppBody } from "../core/messages.js";
import { fileOfMatrixContent } from "../core/media.js";
import type { Link, SharedFile } from "../core/model.js";
import type { ShareFile } from "./files-to-xmpp.js";
import { destinationOf, type XmppDestination } from "./xmpp-destination.js";
import type { Logger } from "../log.js";
import type { MatrixEvent } from "../matrix/appservice-api.js";
import type { MatrixRooms } from "../matrix/rooms.js";
import type { BridgeStore } from "../store/store.js";
import type { ComponentLink } from "../xmpp/component-link.js";
import { MucJoinError, type MucOccupancy } from "../xmpp/muc-occupancy.js";
import { renderMessage, renderModeration, renderModerationRequest, renderSignal, type OutgoingMessage } from "../xmpp/stanzas.js";
import { deliver, isPassing } from "./errors.js";
import { asError } from "../core/errors.js";
import * as notices from "../core/notices.js";

/** The id a Matrix event's message carries on XMPP (stanza id and origin-id): stable across retries. */
export const xmppIdOf = (eventId: string): string => eventId.replace(/^\$/, "");

/** Delivers what the homeserver sent, to XMPP, as puppets. */
export class MatrixToXmpp {
  constructor(
    private readonly store: BridgeStore,
    private readonly rooms: MatrixRooms,
    private readonly link: ComponentLink,
    private readonly occupancy: MucOccupancy,
    private readonly addressing: AddressingConfig,
    private readonly botUserId: string,
    private readonly messageMapSeconds: number,
    private readonly permissions: Readonly<Record<string, PermissionLevel>>,
    /** Whether an XMPP user's client supports a feature; undefined when unknown. */
    private readonly peerSupports: (jid: string, feature: string, askingFrom: string) => Promise<boolean | undefined>,
    /** Where XMPP users can fetch a Matrix file (its url an mxc:// URI) that `sender` shares. */
    private readonly shareFile: ShareFile,
    private readonly log: Logger,
  ) {}

  /** Whether a Matrix user's doings go to XMPP: not the bridge's own users, and allowed to use it. */
  bridges(sender: string): boolean {
    return sender !== this.botUserId && !isGhost(sender, this.addressing) && hasPermission(sender, "user", this.permissions);
  }

  async handle(event: MatrixEvent): Promise<void> {
    const sender = event.sender;
    const roomId = event.room_id;
    if (!sender || !roomId) return;
    // Nothing the bridge itself said goes back out.
    if (!this.bridges(sender)) {
      this.log.debug({ sender, roomId }, "not bridged: the bridge's own user, or one that may not use the bridge");
      return;
    }
    if (event.type === "m.room.member") return this.membership(event, sender, roomId);
    if (event.type === "m.room.message" || event.type === "m.sticker") return this.message(event, sender, roomId);
    if (event.type === "m.room.redaction") return this.redaction(event, sender, roomId);
    if (event.type === "m.reaction") return this.reaction(event, sender, roomId);
  }

  private async membership(event: MatrixEvent, sender: string, roomId: string): Promise<void> {
    const target = event.state_key;
    const membership = event.content?.membership;
    if (!target) return;
    const link = await this.store.linkByRoom(roomId);

    if (membership === "invite" && !link) {
      const xmppUser = jidOfGhost(target, this.addressing);
      if (xmppUser) return this.openDirectChat(roomId, sender, target, xmppUser);
      return;
    }
    if (!link || link.kind === "dm" || target === this.botUserId) return;
    if (isGhost(target, this.addressing)) {
      if ((membership === "leave" || membership === "ban") && sender !== target) await this.moderate(link.muc, roomId, sender, target, membership === "ban" ? "ban" : "kick", event.content?.reason);
      return;
    }
    if (membership === "join") {
      const displayName = typeof event.content?.displayname === "string" ? event.content.displayname : undefined;
      const current = this.occupancy.nickOf(link.muc, target);
      if (current !== undefined && displayName && displayName !== current) {
        await deliver("nick change", () => this.occupancy.changeNick(link.muc, target, displayName));
        return;
      }
      try {
        await this.joinPuppet(link, target, displayName, roomId);
      } catch (err) {
        if (isPassing(err)) throw err;
        await this.rooms.notice(roomId, notices.puppetCannotJoin(displayName ?? target, link.muc, err instanceof MucJoinError ? err.condition : asError(err).message));
      }
    } else if (membership === "leave" || membership === "ban") {
      await deliver("leave MUC", () => this.occupancy.leave(link.muc, target, membership === "ban" ? "Banned on Matrix" : undefined));
    }
  }

  /** A Matrix user removed a ghost from a bridged room: their puppet asks the MUC to do the same. */
  private async moderate(muc: string, roomId: string, moderator: string, ghost: string, action: "kick" | "ban", reason: unknown): Promise<void> {
    const occupant = this.occupancy.occupants(muc).find((o) => ghostOfOccupant(o, this.addressing) === ghost);
    if (!occupant) return;
    const why = typeof reason === "string" && reason ? reason : `${action === "ban" ? "Banned" : "Kicked"} on Matrix`;
    if (action === "ban" && !occupant.realJid) {
      await this.rooms.notice(roomId, notices.kickedInsteadOfBanned(occupant.nick));
      action = "kick";
    }
    try {
      await deliver("join MUC", () => this.occupancy.join(muc, moderator, matrixLocalpart(moderator)));
      await this.link.request(renderModeration(puppetAddress(moderator, this.addressing), muc, occupant, action, why));
      this.log.info({ muc, nick: occupant.nick, action, moderator }, "removed an occupant from a MUC");
    } catch (err) {
      if (isPassing(err)) throw err;
      const condition = (err as { condition?: string }).condition ?? asError(err).message;
      await this.rooms.notice(roomId, notices.removalRefused(occupant.nick, muc, action, condition));
    }
  }

  /** A Matrix user invited a ghost: the ghost accepts, and the room becomes their DM. */
  private async openDirectChat(roomId: string, matrixUser: string, ghost: string, xmppUser: string): Promise<void> {
    await deliver("ghost accepts invite", () => this.rooms.ensureJoined(ghost, roomId));
    const previous = await this.store.dmLink(matrixUser, xmppUser);
    if (previous && previous.roomId !== roomId) await this.store.removeLink(previous);
    await this.store.saveLink({ kind: "dm", roomId, matrixUser, xmppUser });
    this.log.info({ roomId, matrixUser, xmppUser }, "a Matrix user opened a direct chat with an XMPP user");
  }

  private async joinPuppet(link: Extract<Link, { muc: string }>, matrixUser: string, displayName: string | undefined, roomId: string): Promise<string> {
    const nick = displayName ?? (await this.rooms.displayName(roomId, matrixUser)) ?? matrixLocalpart(matrixUser);
    return deliver("join MUC", () => this.occupancy.join(link.muc, matrixUser, nick));
  }

  private target(link: Link): XmppDestination {
    return destinationOf(link, this.addressing, this.botUserId);
  }

  /** XEP-0372 references for the MUC occupants a Matrix message mentions, where their nick stands in the text. */
  private mentionReferences(muc: string, body: string, mentions: unknown): { begin: number; end: number; uri: string }[] {
    const userIds = (mentions as { user_ids?: unknown } | undefined)?.user_ids;
    if (!Array.isArray(userIds) || userIds.length === 0) return [];
    const mentioned = this.occupancy
      .occupants(muc)
      .filter((o) => userIds.includes(ghostOfOccupant(o, this.addressing)))
      .map((o) => ({ name: o.nick, matrixUser: ghostOfOccupant(o, this.addressing) }));
    return locateMentions(body, mentioned).map(({ mention, begin, end }) => ({ begin, end, uri: `xmpp:${muc}/${encodeURIComponent(mention.name)}` }));
  }

  /** The puppet is in the MUC, or its user has been told why not; true when sending may go on. */
  async ready(link: Link, sender: string, roomId: string): Promise<boolean> {
    if (link.kind === "dm") return true;
    try {
      await this.joinPuppet(link, sender, undefined, roomId);
      return true;
    } catch (err) {
      if (isPassing(err)) throw err;
      const reason = err instanceof MucJoinError ? err.condition : asError(err).message;
      this.log.warn({ roomId, sender, muc: link.muc, reason }, "message not delivered: the puppet cannot join the MUC");
      await this.rooms.notice(roomId, notices.messageNotDelivered(link.muc, reason));
      return false;
    }
  }

  private async message(event: MatrixEvent, sender: string, roomId: string): Promise<void> {
    const eventId = event.event_id;
    const link = eventId ? await this.store.linkByRoom(roomId) : undefined;
    if (!eventId || !link) return;
    const relation = readMatrixRelation(event.content);
    const source = relation.edit?.newContent ?? event.content;
    // An edit of a file's caption is no new file.
    const shared = relation.edit ? undefined : fileOfMatrixContent(event.content, event.type);
    // An edit of a file changes its caption, which XMPP got as a message of its own.
    const editedFile = relation.edit ? fileOfMatrixContent(relation.edit.newContent, event.type) : undefined;
    // The reply fallback older clients add would put a Matrix ID into the XMPP body.
    const text = shared ? shared.caption : editedFile ? editedFile.caption : fromMatrixContent(relation.replyTo && source && typeof source.body === "string" ? { ...source, ...stripMatrixReplyFallback(source as { body: string; formatted_body?: string }) } : source);
    if (!text && !shared) return;
    const target = this.target(link);
    const id = xmppIdOf(eventId);
    const out: OutgoingMessage = { from: puppetAddress(sender, this.addressing), to: target.to, type: target.type, id, body: text ? toXmppBody(text) : "" };

    if (relation.threadRoot) {
      // The thread id on XMPP is the root's id there; replies in it from XMPP find the root again by it.
      const root = await this.store.messageByEventId(relation.threadRoot);
      out.thread = root ? (root.ids.originId ?? root.ids.id ?? xmppIdOf(relation.threadRoot)) : xmppIdOf(relation.threadRoot);
      await this.store.setThreadRoot(target.conversation, out.thread, relation.threadRoot, this.messageMapSeconds);
    }
    if (relation.edit) {
      const original = await this.store.messageByEventId(relation.edit.target);
      const sent = original?.sender === sender ? (original.ids.originId ?? original.ids.id) : undefined;
      // Correcting the file message itself would replace the file with text: its caption message is corrected.
      const ref = sent && editedFile ? ((await this.hadCaption(roomId, relation.edit.target, target.viewer)) ? `${sent}.caption` : undefined) : sent;
      // XMPP clients may only apply a correction to the sender's last message: others get a marked fallback.
      const last = ref ? (await this.store.lastMessage(target.conversation, sender)) === relation.edit.target : false;
      if (!last) out.body = editFallbackBody(out.body);
      if (ref) out.replaces = { id: ref, ...(last ? {} : { fallbackLength: 2 }) };
    } else if (relation.replyTo) {
      const original = await this.store.messageByEventId(relation.replyTo);
      const ref = original ? target.refOf(original.ids) : undefined;
      if (ref) {
        const originalContent = await this.rooms.eventContent(roomId, relation.replyTo, target.viewer);
        const originalText = fromMatrixContent(originalContent)?.body;
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
      const references = this.mentionReferences(link.muc, out.body, event.content?.["m.mentions"]);
      if (references.length > 0) out.references = references;
    }
    if (!(await this.ready(link, sender, roomId))) return;
    // Recorded before sending: the MUC's reflection, which carries the stanza-id, may come back first.
    await this.store.recordMessage({ roomId, eventId, conversation: target.conversation, ids: { id, originId: id }, sender }, this.messageMapSeconds);
    if (shared) {
      await this.sendFile(out, shared.file, sender, roomId);
    } else {
      await deliver("send to XMPP", () => this.link.send(renderMessage(out)));
    }
    if (!relation.edit) await this.store.setLastMessage(target.conversation, sender, eventId, this.messageMapSeconds);
  }

  private async hadCaption(roomId: string, eventId: string, viewer: string): Promise<boolean> {
    return fileOfMatrixContent(await this.rooms.eventContent(roomId, eventId, viewer))?.caption !== undefined;
  }

  /**
   * A file goes as its link alone in the body, which is what makes XMPP clients show it inline; a
   * caption follows as a message of its own. A reply keeps its reference but not its quote.
   */
  private async sendFile(out: OutgoingMessage, file: SharedFile, sender: string, roomId: string): Promise<void> {
    let shared: Awaited<ReturnType<ShareFile>>;
    try {
      shared = await this.shareFile(file, sender);
    } catch (err) {
      if (isPassing(err)) throw err;
      this.log.warn({ roomId, sender, file: file.url, err }, "a file could not be shared with XMPP");
      await this.rooms.notice(roomId, notices.fileNotDelivered(file.name, asError(err).message));
      return;
    }
    const caption = out.body;
    const fileMessage: OutgoingMessage = { ...out, body: shared.url, file: { ...file, ...shared } };
    if (out.reply) fileMessage.reply = { ...out.reply, fallbackLength: 0 };
    await deliver("send to XMPP", () => this.link.send(renderMessage(fileMessage)));
    if (caption.trim() !== "") {
      const { reply: _reply, ...plain } = out;
      await deliver("send to XMPP", () => this.link.send(renderMessage({ ...plain, id: `${out.id}.caption` })));
    }
  }

  /** A Matrix user redacted their own bridged message: their puppet retracts it (XEP-0424). */
  private async redaction(event: MatrixEvent, sender: string, roomId: string): Promise<void> {
    const redacts = event.redacts ?? (typeof event.content?.redacts === "string" ? event.content.redacts : undefined);
    const link = redacts && event.event_id ? await this.store.linkByRoom(roomId) : undefined;
    if (!redacts || !link || !event.event_id) return;
    const reaction = await this.store.reactionByEventId(redacts);
    if (reaction) {
      if (reaction.sender !== sender) return;
      await this.store.forgetReaction(reaction);
      return this.sendReactions(link, roomId, sender, reaction.target, event.event_id);
    }
    const original = await this.store.messageByEventId(redacts);
    if (original?.sender && original.sender !== sender && isGhost(original.sender, this.addressing) && link.kind !== "dm") {
      const reason = typeof event.content?.reason === "string" ? event.content.reason : "Removed on Matrix";
      return this.moderateMessage(link, roomId, sender, original.ids.stanzaId, reason);
    }
    if (!original || original.sender !== sender) {
      this.log.debug({ roomId, redacts, sender }, "redaction not bridged: not the sender's own bridged message");
      return;
    }
    const target = this.target(link);
    const ref = target.refOf(original.ids);
    if (!ref || !(await this.ready(link, sender, roomId))) return;
    const from = puppetAddress(sender, this.addressing);
    await deliver("retract on XMPP", () =>
      this.link.send(renderMessage({ from, to: target.to, type: target.type, id: xmppIdOf(event.event_id!), body: "/me retracted a message", retracts: ref })),
    );
  }

  /**
   * A Matrix moderator removed an XMPP user's message: their puppet asks the MUC to do the same
   * (XEP-0425, the current form, then the older one); a refusal is reported in the room.
   */
  private async moderateMessage(link: Extract<Link, { muc: string }>, roomId: string, moderator: string, stanzaId: string | undefined, reason: string): Promise<void> {
    if (!stanzaId) return;
    if (!(await this.ready(link, moderator, roomId))) return;
    const from = puppetAddress(moderator, this.addressing);
    let condition = "";
    for (const legacy of [false, true]) {
      try {
        await this.link.request(renderModerationRequest(from, link.muc, stanzaId, reason, legacy));
        this.log.info({ muc: link.muc, stanzaId, moderator }, "removed a message from a MUC");
        return;
      } catch (err) {
        if (isPassing(err)) throw err;
        condition = (err as { condition?: string }).condition ?? asError(err).message;
        if (condition !== "feature-not-implemented" && condition !== "bad-request" && condition !== "service-unavailable") break;
      }
    }
    await this.rooms.notice(roomId, notices.messageRemovalRefused(link.muc, condition));
  }

  /** A Matrix user reacted: XMPP gets their whole set of reactions to that message (XEP-0444). */
  private async reaction(event: MatrixEvent, sender: string, roomId: string): Promise<void> {
    const relates = event.content?.["m.relates_to"] as { rel_type?: string; event_id?: string; key?: string } | undefined;
    const link = await this.store.linkByRoom(roomId);
    if (!link || !event.event_id || relates?.rel_type !== "m.annotation" || !relates.event_id || typeof relates.key !== "string") return;
    const original = await this.store.messageByEventId(relates.event_id);
    // A client known not to show reactions (disco#info) gets the text instead.
    const unsupported = link.kind === "dm" && (await this.peerSupports(link.xmppUser, "urn:xmpp:reactions:0", puppetAddress(sender, this.addressing))) === false;
    if (!original || unsupported) return this.reactionFallback(link, roomId, sender, relates.event_id, relates.key, event.event_id);
    await this.store.recordReaction({ target: relates.event_id, sender, key: relates.key, eventId: event.event_id }, this.messageMapSeconds);
    await this.sendReactions(link, roomId, sender, relates.event_id, event.event_id);
  }

  private async sendReactions(link: Link, roomId: string, sender: string, targetEvent: string, causeEvent: string): Promise<void> {
    const original = await this.store.messageByEventId(targetEvent);
    const target = this.target(link);
    const ref = original ? target.refOf(original.ids) : undefined;
    if (!ref || !(await this.ready(link, sender, roomId))) return;
    const emojis = [...(await this.store.reactionsOf(targetEvent, sender)).keys()];
    const from = puppetAddress(sender, this.addressing);
    await deliver("react on XMPP", () =>
      this.link.send(renderSignal({ from, to: target.to, type: target.type, id: xmppIdOf(causeEvent), reactions: { id: ref, emojis } })),
    );
  }

  /** A reaction to a message XMPP never saw: a short line of text, with no Matrix IDs in it. */
  private async reactionFallback(link: Link, roomId: string, sender: string, targetEvent: string, key: string, causeEvent: string): Promise<void> {
    const target = this.target(link);
    const text = fromMatrixContent(await this.rooms.eventContent(roomId, targetEvent, target.viewer))?.body;
    const words = text ? quoteFallback(text).text.slice(2).trim() : undefined;
    if (!(await this.ready(link, sender, roomId))) return;
    const body = words ? `/me reacted ${key} to "${words}"` : `/me reacted ${key}`;
    await deliver("send to XMPP", () => this.link.send(renderMessage({ from: puppetAddress(sender, this.addressing), to: target.to, type: target.type, id: xmppIdOf(causeEvent), body })));
  }
}
