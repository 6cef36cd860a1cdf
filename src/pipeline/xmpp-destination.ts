import { ghostUserId, type AddressingConfig } from "../core/identity.js";
import type { Link, XmppMessageIds } from "../core/model.js";
import { dmConversation } from "../xmpp/inbound.js";

/** The id a Matrix event's message carries on XMPP (stanza id and origin-id): stable across retries. */
export const xmppIdOf = (eventId: string): string => eventId.replace(/^\$/, "");

/** Where a linked room's messages go on XMPP, and how references to its messages are written there. */
export interface XmppDestination {
  to: string;
  type: "chat" | "groupchat";
  /** The conversation key of the message map and the lanes. */
  conversation: string;
  /** The id other messages use to point at a message. */
  refOf(ids: XmppMessageIds): string | undefined;
  /** A bridge user who is in the Matrix room, to read events there. */
  viewer: string;
}

export function destinationOf(link: Link, addressing: AddressingConfig, botUserId: string): XmppDestination {
  if (link.kind === "dm") {
    return {
      to: link.xmppUser,
      type: "chat",
      conversation: dmConversation(link.xmppUser, link.matrixUser),
      refOf: (ids) => ids.originId ?? ids.id,
      viewer: ghostUserId(link.xmppUser, addressing),
    };
  }
  // In a MUC, references use the id the room gave the message (XEP-0359 stanza-id).
  return { to: link.muc, type: "groupchat", conversation: link.muc, refOf: (ids) => ids.stanzaId ?? ids.id, viewer: botUserId };
}
