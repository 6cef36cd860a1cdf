import { dmConversation } from "../../core/conversations.js";
import { ghostOfOccupant, ghostUserId, type AddressingConfig } from "../../core/identity.js";
import type { Link, XmppEvent, XmppInboundMessage } from "../../core/model.js";
import { onward, type Trail } from "../../core/trail.js";
import type { Logger } from "../../log.js";
import type { BridgeStore } from "../../store/store.js";
import { deliver } from "../errors.js";
import type { DirectChats } from "./direct-chats.js";
import type { Ghosts } from "./ghosts.js";

/** Where an XMPP conversation's doings go on Matrix: the room, and the message map's conversation key. */
export interface MatrixDestination {
  readonly link: Link;
  readonly roomId: string;
  readonly conversation: string;
  /** The ghost of whoever the event is from, where it is from someone (a message, an occupant's change). */
  readonly ghost?: string;
  /** What a message written there carries of the bridges it crossed, this one included. */
  readonly trail?: Trail;
}

/** A destination with the ghost that writes there. */
export type GhostDestination = Pick<MatrixDestination, "roomId" | "conversation" | "trail"> & { readonly ghost: string };

/**
 * The Matrix destination of each XMPP event: a DM's room (opened when needed), or the room linked to
 * the MUC. A message's sender is in the room before anything of theirs is written there.
 */
export class MatrixDestinations {
  constructor(private readonly deps: { store: BridgeStore; ghosts: Ghosts; directChats: DirectChats; addressing: AddressingConfig; log: Logger }) {}

  async of(event: XmppEvent): Promise<MatrixDestination | undefined> {
    if (event.kind === "message") return this.ofMessage(event.message);
    if (event.kind === "bounced") {
      const link = await this.deps.store.dmLink(event.matrixUser, event.xmppUser);
      return link ? { link, roomId: link.roomId, conversation: dmConversation(event.xmppUser, event.matrixUser) } : undefined;
    }
    if (event.kind === "subscription") return undefined;
    const muc = event.kind === "occupant" ? event.presence.muc : event.kind === "gateway-presence" ? event.room : event.muc;
    const link = await this.linkOfMuc(muc);
    if (!link) return undefined;
    // A removed puppet's own presence is about its Matrix user: it has no ghost.
    const fromOccupant = event.kind === "occupant" && !event.puppetOf;
    return { link, roomId: link.roomId, conversation: muc, ...(fromOccupant ? { ghost: ghostOfOccupant(event.presence, this.deps.addressing) } : {}) };
  }

  private async ofMessage(message: XmppInboundMessage): Promise<MatrixDestination | undefined> {
    const destination = await this.ofMessageWithoutTrail(message);
    const { conversation } = message;
    const source = conversation.kind === "dm" ? conversation.xmppUser : conversation.kind === "gateway" ? conversation.room : conversation.muc;
    return destination && { ...destination, trail: onward(message.trail, source, this.deps.addressing.componentDomain) };
  }

  private async ofMessageWithoutTrail(message: XmppInboundMessage): Promise<MatrixDestination | undefined> {
    const { conversation } = message;
    if (conversation.kind === "dm") {
      const { xmppUser, matrixUser } = conversation;
      const ghost = ghostUserId(xmppUser, this.deps.addressing);
      await this.deps.ghosts.introduce(ghost, xmppUser, message.senderName);
      const roomId = await deliver("direct room", () => this.deps.directChats.roomFor(ghost, xmppUser, matrixUser));
      return { link: { kind: "dm", roomId, matrixUser, xmppUser }, roomId, conversation: dmConversation(xmppUser, matrixUser), ghost };
    }
    if (conversation.kind === "gateway") {
      // The ghost went in when its user entered the room.
      const link = await this.linkOfMuc(conversation.room);
      return link ? { link, roomId: link.roomId, conversation: conversation.room, ghost: ghostUserId(conversation.xmppUser, this.deps.addressing) } : undefined;
    }
    const link = await this.linkOfMuc(conversation.muc);
    if (!link) return undefined;
    const ghost = ghostOfOccupant(conversation, this.deps.addressing);
    await this.deps.ghosts.enter(ghost, link.roomId, conversation);
    // The lane holds the message from here until it is on Matrix: the MUC need not send it again after a restart.
    // Written together: one round trip, not two, before each message.
    const { stanzaId } = message.ids;
    await Promise.all([this.deps.store.setMucDeliveredUntil(conversation.muc, message.sentAt ?? Date.now()), stanzaId && this.deps.store.setMucLastStanzaId(conversation.muc, stanzaId)]);
    return { link, roomId: link.roomId, conversation: conversation.muc, ghost };
  }

  private async linkOfMuc(muc: string): Promise<Link | undefined> {
    const link = await this.deps.store.linkByMuc(muc);
    if (!link) this.deps.log.debug({ muc }, "nothing bridged to this MUC");
    return link;
  }
}
