import type { Element } from "@xmpp/xml";
import { InputRefusedError } from "../core/errors.js";
import { isPuppet, roomRefOfGatewayJid, userIdOfPuppet, type AddressingConfig } from "../core/identity.js";
import { findMentions } from "../core/mentions.js";
import type { XmppEvent, XmppInboundMessage } from "../core/model.js";
import { dmConversation } from "../core/conversations.js";
import type { Logger } from "../log.js";
import type { ComponentConnection } from "./component-connection.js";
import type { MucOccupancy } from "./muc-occupancy.js";
import type { PeerFeatures } from "./peer-features.js";
import { NS } from "./namespaces.js";
import { errorCondition, errorIsTemporary, errorText, mentionedAddresses, parseDirectMessage, parseGatewayMessage, parseGroupMessage, parseModeration, parseRoomChange, parseRoomDestroyed, parseSubject, renderStanzaError, splitJid, type Address } from "./stanzas.js";
import { parseGatewayPresence, renderJoinError } from "./gateway-stanzas.js";
import { parseAvatarHash, parseContactPresence, subscriptionType, type ContactPresence } from "./presence-stanzas.js";

/** Queues an event for Matrix; with a dedup key, an event already queued under it is dropped. */
export type QueueForMatrix = (conversation: string, event: XmppEvent, dedupKey?: string) => Promise<void>;

/** Where an XMPP user's own presence to a puppet goes (presence in MUCs is MucOccupancy's). */
export interface ContactPresenceHandlers {
  /** Availability presence (available or unavailable) of one of the user's resources. */
  availability(presence: ContactPresence, matrixUser: string): Promise<void>;
}

function dedupKey(conversation: string, message: XmppInboundMessage): string | undefined {
  const { stanzaId, originId, id } = message.ids;
  const sender = message.conversation.kind === "muc" ? message.conversation.occupantKey : message.conversation.xmppUser;
  if (stanzaId) return `${conversation}:sid:${stanzaId}`;
  if (originId) return `${conversation}:oid:${sender}:${originId}`;
  if (id) return `${conversation}:id:${sender}:${id}`;
  return undefined;
}

export interface XmppInboundDeps {
  occupancy: MucOccupancy;
  peers: PeerFeatures;
  addressing: AddressingConfig;
  contacts: ContactPresenceHandlers;
  queue: QueueForMatrix;
  /** A contact's presence announced an avatar hash (XEP-0153; "" for none). */
  noteContactAvatar: (xmppUser: string, hash: string) => Promise<void>;
  /** Answers a stanza at once (an error for what a gateway room cannot take). */
  answer: (stanza: Element) => Promise<void>;
  log: Logger;
}

/**
 * Sorts what the XMPP server sends to puppets: chat and groupchat messages and MUC presence become
 * events queued for Matrix; an XMPP user's own presence and subscriptions go to the presence handlers.
 */
export class XmppInbound {
  constructor(private readonly deps: XmppInboundDeps) {}

  async handle(stanza: Element): Promise<void> {
    const to = stanza.attrs.to ? splitJid(stanza.attrs.to) : undefined;
    const from = stanza.attrs.from ? splitJid(stanza.attrs.from) : undefined;
    if (!to || !from) return;
    // Nothing a puppet says is ever bridged back.
    if (isPuppet(from.bare, this.deps.addressing) || from.bare === this.deps.addressing.componentDomain) return;
    if (roomRefOfGatewayJid(to.bare, this.deps.addressing)) return this.onGatewayStanza(stanza, to);
    const matrixUser = userIdOfPuppet(to.bare, this.deps.addressing);
    if (!matrixUser) {
      if (stanza.is("message")) this.deps.log.debug({ to: stanza.attrs.to }, "message to an address that is no puppet");
      return;
    }
    if (stanza.is("message")) await this.onMessage(stanza, matrixUser);
    else if (stanza.is("presence")) await this.onPresence(stanza, matrixUser);
  }

  private async onMessage(stanza: Element, matrixUser: string): Promise<void> {
    const type = stanza.attrs.type ?? "normal";
    if (type === "error") {
      const condition = errorCondition(stanza);
      this.deps.log.warn({ from: stanza.attrs.from, to: stanza.attrs.to, id: stanza.attrs.id, condition }, "XMPP returned an error for a message");
      const room = splitJid(stanza.attrs.from!);
      // A MUC refusing what a puppet sent it (a subject change it may not make, say): Matrix is told.
      if (!room.resource && stanza.attrs.id && this.deps.occupancy.puppetsIn(room.bare).length > 0) {
        await this.deps.queue(room.bare, { kind: "refused", muc: room.bare, id: stanza.attrs.id, ...(condition ? { condition } : {}) });
      } else if (stanza.attrs.id && !errorIsTemporary(stanza)) {
        // An XMPP user's server sent back what a puppet wrote them: the Matrix user learns it did not arrive.
        const text = errorText(stanza);
        const bounced = { kind: "bounced" as const, xmppUser: room.bare, matrixUser, id: stanza.attrs.id, ...(condition ? { condition } : {}), ...(text ? { text } : {}) };
        const conversation = dmConversation(room.bare, matrixUser);
        await this.deps.queue(conversation, bounced, `${conversation}:bounced:${stanza.attrs.id}`);
      }
      return;
    }
    if (type === "groupchat") {
      const change = parseRoomChange(stanza);
      if (change) {
        if (this.deps.occupancy.isListener(change.muc, stanza.attrs.to!)) await this.deps.queue(change.muc, { kind: "room-changed", muc: change.muc });
        return;
      }
      const moderation = parseModeration(stanza);
      if (moderation) {
        await this.deps.queue(moderation.muc, { kind: "moderation", ...moderation }, `${moderation.muc}:moderation:${moderation.stanzaId}`);
        return;
      }
      const subject = parseSubject(stanza);
      if (subject) {
        await this.deps.queue(subject.muc, { kind: "subject", ...subject });
        return;
      }
      const message = parseGroupMessage(stanza);
      if (!message || message.conversation.kind !== "muc") return;
      const { muc, nick } = message.conversation;
      if (this.deps.occupancy.isPuppetNick(muc, nick)) {
        await this.deps.queue(muc, { kind: "reflection", muc, ids: message.ids }, message.ids.stanzaId ? `${muc}:reflection:${message.ids.stanzaId}` : undefined);
        return;
      }
      const realJid = this.deps.occupancy.occupant(muc, nick)?.realJid;
      if (realJid) message.conversation.realJid = realJid;
      const puppets = this.deps.occupancy.puppetsIn(muc).map((p) => ({ name: p.nick, matrixUser: p.matrixUser }));
      // Named in the text, or referenced by address (XEP-0372) even where the text says something else.
      const referenced = new Set(mentionedAddresses(stanza));
      const mentions = [...findMentions(message.body, puppets), ...puppets.filter((p) => referenced.has(`${muc}/${p.name}`))];
      const unique = [...new Map(mentions.map((m) => [m.matrixUser, m])).values()];
      if (unique.length > 0) message.mentions = unique;
      await this.deps.queue(muc, { kind: "message", message }, dedupKey(muc, message));
      return;
    }
    this.deps.peers.noteResource(stanza.attrs.from!);
    const message = parseDirectMessage(stanza, matrixUser);
    if (!message || message.conversation.kind !== "dm") return;
    const conversation = dmConversation(message.conversation.xmppUser, matrixUser);
    await this.deps.queue(conversation, { kind: "message", message }, dedupKey(conversation, message));
  }

  /**
   * What an XMPP user sends a gateway room: presence to room/nick enters, renames or leaves (an error
   * bounced by one of its resources leaves too, XEP-0045 §7.2.7); a groupchat message to the room is
   * said there. Private messages between occupants are not offered.
   */
  private async onGatewayStanza(stanza: Element, to: Address): Promise<void> {
    const room = to.bare;
    const occupant = stanza.attrs.from!;
    const bounced = stanza.attrs.type === "error";
    if (stanza.is("presence")) {
      const asked = bounced ? { available: false } : parseGatewayPresence(stanza);
      if (!asked) return;
      if (!to.resource) {
        if (asked.available) await this.deps.answer(renderJoinError(room, occupant, "modify", "jid-malformed", "Join with a nick: room@service/nick."));
        return;
      }
      await this.deps.queue(room, { kind: "gateway-presence", room, occupant, nick: to.resource, ...asked });
      return;
    }
    if (!stanza.is("message")) return;
    if (bounced) {
      await this.deps.queue(room, { kind: "gateway-presence", room, occupant, nick: to.resource ?? "", available: false });
    } else if (stanza.attrs.type === "groupchat" && !to.resource) {
      const message = parseGatewayMessage(stanza, room);
      if (message) await this.deps.queue(room, { kind: "message", message }, dedupKey(room, message));
    } else {
      await this.deps.answer(renderStanzaError("message", stanza.attrs.to!, occupant, stanza.attrs.id, "modify", "not-acceptable", "This room takes groupchat messages only: private messages are not offered."));
    }
  }

  private async onPresence(stanza: Element, matrixUser: string): Promise<void> {
    const type = stanza.attrs.type;
    const from = stanza.attrs.from!;
    const subscription = subscriptionType(stanza);
    if (subscription) return this.deps.queue(dmConversation(splitJid(from).bare, matrixUser), { kind: "subscription", type: subscription, from, matrixUser });
    const avatarHash = parseAvatarHash(stanza);
    if (avatarHash !== undefined && type === undefined && !stanza.getChild("x", NS.mucUser)) {
      const sender = splitJid(from);
      // A MUC announcing its own avatar (as Prosody's mod_vcard_muc and ejabberd do) is news about the room.
      if (!sender.resource && this.deps.occupancy.puppetsIn(sender.bare).length > 0) {
        if (this.deps.occupancy.isListener(sender.bare, stanza.attrs.to!)) await this.deps.queue(sender.bare, { kind: "room-changed", muc: sender.bare, avatarHash });
        return;
      }
      await this.deps.noteContactAvatar(sender.bare, avatarHash);
    }
    const contact = parseContactPresence(stanza);
    if (contact) return this.deps.contacts.availability(contact, matrixUser);
    // Every puppet in the room hears it: the first unlinks the room, the others find nothing linked.
    const destroyed = parseRoomDestroyed(stanza);
    if (destroyed) return this.deps.queue(destroyed.muc, { kind: "room-destroyed", ...destroyed });
    const occupant = this.deps.occupancy.handlePresence(stanza);
    this.deps.log.debug({ from, to: stanza.attrs.to, type, change: occupant?.change }, "presence to a puppet");
    if (occupant?.change) {
      const { presence, change, puppetOf } = occupant;
      await this.deps.queue(presence.muc, { kind: "occupant", presence, change, ...(puppetOf ? { puppetOf } : { via: stanza.attrs.to! }) });
    }
  }
}

/**
 * The answer to a message the bridge cannot take now: an error of type wait (RFC 6120 §8.3.2), so its
 * sender knows it did not arrive and may send it again later.
 */
export function tryAgainLater(message: Element): Element {
  const { from, to, id } = message.attrs;
  return renderStanzaError("message", to, from, id, "wait", "resource-constraint", "The bridge cannot take this message now; send it again later.");
}

/**
 * Takes in what the component connection receives. A message the bridge cannot hold now (its store is
 * away and it holds all it may) is answered with an error of type wait, never dropped in silence. An
 * error or a presence is not answered: an error to a MUC occupant's presence makes the room drop the puppet.
 */
export function takeInStanzas(connection: ComponentConnection, inbound: Pick<XmppInbound, "handle">, log: Logger): void {
  connection.on("stanza", (stanza: Element) => {
    inbound.handle(stanza).catch((err: unknown) => {
      // Named by its attributes, not written out: a hostile stanza's markup may be huge or too deep to print.
      const { name, attrs } = stanza;
      if (!(err instanceof InputRefusedError)) return log.error({ err, stanza: { name, from: attrs.from, to: attrs.to, type: attrs.type, id: attrs.id } }, "could not take in a stanza");
      // Counted and logged once by the ingress, not here per stanza.
      if (stanza.is("message") && stanza.attrs.type !== "error") {
        connection.send(tryAgainLater(stanza)).catch((e: unknown) => log.debug({ err: e }, "could not answer a refused message"));
      }
    });
  });
}
