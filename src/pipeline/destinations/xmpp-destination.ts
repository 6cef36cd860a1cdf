import { dmConversation } from "../../core/conversations.js";
import { ghostUserId, type AddressingConfig } from "../../core/identity.js";
import type { Link, XmppMessageIds } from "../../core/model.js";
import type { BridgeStore } from "../../store/store.js";
import type { ComponentConnection } from "../../xmpp/component-connection.js";
import { puppetAddress } from "../../xmpp/puppet-address.js";
import { renderMessage, renderSignal, type OutgoingMessage, type OutgoingSignal } from "../../xmpp/stanzas.js";
import { deliver } from "../errors.js";
import type { GatewayRooms } from "./gateway.js";
import type { Puppets } from "./puppets.js";

/** A message or signal as a capability writes it: where it goes and from whom is the destination's business. */
export type MessageOut = Omit<OutgoingMessage, "from" | "to" | "type">;
export type SignalOut = Omit<OutgoingSignal, "from" | "to" | "type">;

/**
 * Where a bridged Matrix room's doings go on XMPP, and how a Matrix user speaks there. Capabilities
 * write against this, never against a kind of room: a new kind of room is a new implementation.
 */
export interface XmppDestination {
  readonly link: Link;
  readonly roomId: string;
  /** The MUC the room is linked to; undefined for a DM. */
  readonly muc: string | undefined;
  /** The conversation key of the message map and the lanes. */
  readonly conversation: string;
  /** A bridge user who is in the Matrix room, to read events there. */
  readonly viewer: string;
  /** The id other messages use to point at a message (a reply, a reaction, a retraction). */
  refOf(ids: XmppMessageIds): string | undefined;
  /** The id a correction (XEP-0308) names the message it corrects by. */
  correctionRefOf(ids: XmppMessageIds): string | undefined;
  /** Whether the user speaks there already, so that signals (typing, markers) may go without joining. */
  isIn(matrixUser: string): boolean;
  /** Makes the user able to speak there (their puppet joins a MUC), or tells them why not; true when sending may go on. */
  ready(matrixUser: string): Promise<boolean>;
  /** The address the user speaks from there. */
  addressOf(matrixUser: string): string;
  send(matrixUser: string, message: MessageOut, what?: string): Promise<void>;
  signal(matrixUser: string, signal: SignalOut, what: string): Promise<void>;
}

export interface XmppDestinationsDeps {
  store: BridgeStore;
  connection: ComponentConnection;
  puppets: Puppets;
  gateway: GatewayRooms;
  addressing: AddressingConfig;
  botUserId: string;
}

/**
 * The XMPP destination of each bridged room: a DM goes to the XMPP user, a portal or plumbed room to
 * its MUC, as the sender's puppet; a gateway room to its occupants (destinations/gateway.ts).
 */
export class XmppDestinations {
  constructor(private readonly deps: XmppDestinationsDeps) {}

  async ofRoom(roomId: string): Promise<XmppDestination | undefined> {
    const link = await this.deps.store.linkByRoom(roomId);
    if (link?.kind === "gateway") await this.deps.gateway.prepare(link);
    return link ? this.ofLink(link) : undefined;
  }

  ofLink(link: Link): XmppDestination {
    if (link.kind === "gateway") return this.deps.gateway.destination(link);
    const { connection, puppets, addressing, botUserId } = this.deps;
    const to = link.kind === "dm" ? link.xmppUser : link.muc;
    const type = link.kind === "dm" ? "chat" : "groupchat";
    const addressOf = (matrixUser: string) => puppetAddress(matrixUser, addressing);
    return {
      link,
      roomId: link.roomId,
      muc: link.kind === "dm" ? undefined : link.muc,
      conversation: link.kind === "dm" ? dmConversation(link.xmppUser, link.matrixUser) : link.muc,
      viewer: link.kind === "dm" ? ghostUserId(link.xmppUser, addressing) : botUserId,
      // In a MUC, references use the id the room gave the message (XEP-0359 stanza-id).
      refOf: link.kind === "dm" ? (ids) => ids.originId ?? ids.id : (ids) => ids.stanzaId ?? ids.id,
      correctionRefOf: (ids) => ids.originId ?? ids.id,
      isIn: (matrixUser) => puppets.isIn(link, matrixUser),
      ready: (matrixUser) => puppets.ready(link, matrixUser, link.roomId),
      addressOf,
      send: (matrixUser, message, what = "send to XMPP") => deliver(what, () => connection.send(renderMessage({ ...message, from: addressOf(matrixUser), to, type }))),
      signal: (matrixUser, signal, what) => deliver(what, () => connection.send(renderSignal({ ...signal, from: addressOf(matrixUser), to, type }))),
    };
  }
}
