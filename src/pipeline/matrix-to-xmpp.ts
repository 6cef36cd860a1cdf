import { ghostOfOccupant, isGhost, jidOfGhost, type AddressingConfig } from "../core/identity.js";
import { hasPermission, type PermissionLevel } from "../core/permissions.js";
import { puppetAddress } from "../xmpp/puppet-address.js";
import { fromMatrixContent, toXmppBody } from "../core/messages.js";
import type { Link } from "../core/model.js";
import type { Logger } from "../log.js";
import type { MatrixEvent } from "../matrix/appservice-api.js";
import type { MatrixRooms } from "../matrix/rooms.js";
import type { BridgeStore } from "../store/store.js";
import type { ComponentLink } from "../xmpp/component-link.js";
import { dmConversation } from "../xmpp/inbound.js";
import { MucJoinError, type MucOccupancy } from "../xmpp/muc-occupancy.js";
import { renderMessage, renderModeration } from "../xmpp/stanzas.js";
import { deliver, isPassing } from "./errors.js";

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
    private readonly log: Logger,
  ) {}

  async handle(event: MatrixEvent): Promise<void> {
    const sender = event.sender;
    const roomId = event.room_id;
    // Nothing the bridge itself said goes back out.
    if (!sender || !roomId || sender === this.botUserId || isGhost(sender, this.addressing)) return;
    if (!hasPermission(sender, "user", this.permissions)) {
      this.log.debug({ sender, roomId }, "not bridged: the sender may not use the bridge");
      return;
    }
    if (event.type === "m.room.member") return this.membership(event, sender, roomId);
    if (event.type === "m.room.message") return this.message(event, sender, roomId);
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
        await this.rooms.notice(roomId, `${displayName ?? target} could not join ${link.muc} on XMPP (${err instanceof MucJoinError ? err.condition : (err as Error).message}); their messages will not reach it.`);
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
      await this.rooms.notice(roomId, `${occupant.nick} cannot be banned on XMPP: the MUC does not reveal their address. They were kicked instead.`);
      action = "kick";
    }
    try {
      await deliver("join MUC", () => this.occupancy.join(muc, moderator, moderator.slice(1).split(":")[0] ?? moderator));
      await this.link.request(renderModeration(puppetAddress(moderator, this.addressing), muc, occupant, action, why));
      this.log.info({ muc, nick: occupant.nick, action, moderator }, "removed an occupant from a MUC");
    } catch (err) {
      if (isPassing(err)) throw err;
      const condition = (err as { condition?: string }).condition ?? (err as Error).message;
      await this.rooms.notice(roomId, `${occupant.nick} is still in ${muc} on XMPP: the MUC refused to ${action} them (${condition}).`);
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
    const nick = displayName ?? (await this.rooms.displayName(roomId, matrixUser)) ?? matrixUser.slice(1).split(":")[0] ?? matrixUser;
    return deliver("join MUC", () => this.occupancy.join(link.muc, matrixUser, nick));
  }

  private async message(event: MatrixEvent, sender: string, roomId: string): Promise<void> {
    const eventId = event.event_id;
    const message = fromMatrixContent(event.content);
    if (!eventId || !message) return;
    const link = await this.store.linkByRoom(roomId);
    if (!link) return;
    const id = xmppIdOf(eventId);
    const body = toXmppBody(message);

    if (link.kind === "dm") {
      const conversation = dmConversation(link.xmppUser, link.matrixUser);
      await this.store.recordMessage({ roomId, eventId, conversation, ids: { id, originId: id } }, this.messageMapSeconds);
      await deliver("send to XMPP", () => this.link.send(renderMessage({ from: puppetAddress(sender, this.addressing), to: link.xmppUser, type: "chat", id, body })));
      return;
    }

    try {
      await this.joinPuppet(link, sender, undefined, roomId);
    } catch (err) {
      if (isPassing(err)) throw err;
      const reason = err instanceof MucJoinError ? err.condition : (err as Error).message;
      this.log.warn({ roomId, sender, muc: link.muc, reason }, "message not delivered: the puppet cannot join the MUC");
      await this.rooms.notice(roomId, `Your message could not be delivered to ${link.muc}: your XMPP puppet could not join the room (${reason}).`);
      return;
    }
    // Recorded before sending: the MUC's reflection, which carries the stanza-id, may come back first.
    await this.store.recordMessage({ roomId, eventId, conversation: link.muc, ids: { id, originId: id } }, this.messageMapSeconds);
    await deliver("send to XMPP", () => this.link.send(renderMessage({ from: puppetAddress(sender, this.addressing), to: link.muc, type: "groupchat", id, body })));
  }
}
