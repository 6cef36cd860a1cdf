import type { Element } from "@xmpp/xml";
import { isPuppet, userIdOfPuppet, type AddressingConfig } from "../core/identity.js";
import { findMentions } from "../core/mentions.js";
import type { XmppEvent, XmppInboundMessage } from "../core/model.js";
import { dmConversation } from "../core/conversations.js";
import type { Logger } from "../log.js";
import type { MucOccupancy } from "./muc-occupancy.js";
import type { PeerFeatures } from "./peer-features.js";
import { NS } from "./namespaces.js";
import { errorCondition, mentionedAddresses, parseDirectMessage, parseGroupMessage, parseModeration, parseRoomChange, parseSubject, splitJid } from "./stanzas.js";
import { parseAvatarHash, parseContactPresence, subscriptionType, type ContactPresence, type SubscriptionType } from "./presence-stanzas.js";

/** Queues an event for Matrix; with a dedup key, an event already queued under it is dropped. */
export type QueueForMatrix = (conversation: string, event: XmppEvent, dedupKey?: string) => Promise<void>;

/** Where an XMPP user's own presence to a puppet goes (presence in MUCs is MucOccupancy's). */
export interface ContactPresenceHandlers {
  /** Subscription stanzas and probes; `from` is the sender's full or bare JID. */
  subscription(type: SubscriptionType, from: string, matrixUser: string): Promise<void>;
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

  private async onPresence(stanza: Element, matrixUser: string): Promise<void> {
    const type = stanza.attrs.type;
    const from = stanza.attrs.from!;
    const subscription = subscriptionType(stanza);
    if (subscription) return this.deps.contacts.subscription(subscription, from, matrixUser);
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
    const occupant = this.deps.occupancy.handlePresence(stanza);
    this.deps.log.debug({ from, to: stanza.attrs.to, type, change: occupant?.change }, "presence to a puppet");
    if (occupant?.change) {
      const { presence, change, puppetOf } = occupant;
      await this.deps.queue(presence.muc, { kind: "occupant", presence, change, ...(puppetOf ? { puppetOf } : { via: stanza.attrs.to! }) });
    }
  }
}
