import { dmConversation } from "../../core/conversations.js";
import { ghostUserId, type AddressingConfig } from "../../core/identity.js";
import type { Link } from "../../core/model.js";
import type { Trail } from "../../core/trail.js";
import type { BridgeStore } from "../../store/store.js";
import type { ComponentConnection } from "../../xmpp/component-connection.js";
import { puppetAddress } from "../../xmpp/puppet-address.js";
import { renderMessage, renderSignal } from "../../xmpp/stanzas.js";
import { deliver } from "../errors.js";
import type { GatewayDestinations } from "./gateway/destination.js";
import type { Puppets } from "./puppets.js";
import type { XmppDestination } from "./xmpp-destination.js";

export interface XmppDestinationsDeps {
  store: BridgeStore;
  connection: ComponentConnection;
  puppets: Puppets;
  gateway: GatewayDestinations;
  addressing: AddressingConfig;
  botUserId: string;
}

/**
 * The XMPP destination of each bridged room: a DM goes to the XMPP user, a portal or plumbed room to
 * its MUC, as the sender's puppet; a gateway room to its occupants (destinations/gateway/).
 */
export class XmppDestinations {
  constructor(private readonly deps: XmppDestinationsDeps) {}

  /** `trail`: what the messages sent there for the event at hand carry of the bridges they crossed. */
  async ofRoom(roomId: string, trail?: Trail): Promise<XmppDestination | undefined> {
    const link = await this.deps.store.linkByRoom(roomId);
    if (link?.kind === "gateway") await this.deps.gateway.prepare(link);
    return link ? this.ofLink(link, trail) : undefined;
  }

  ofLink(link: Link, trail?: Trail): XmppDestination {
    if (link.kind === "gateway") return this.deps.gateway.destination(link, trail);
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
      send: (matrixUser, message, what = "send to XMPP") => deliver(what, () => connection.send(renderMessage({ ...message, from: addressOf(matrixUser), to, type, trail }))),
      signal: (matrixUser, signal, what) => deliver(what, () => connection.send(renderSignal({ ...signal, from: addressOf(matrixUser), to, type, trail }))),
    };
  }
}
