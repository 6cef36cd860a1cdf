/** Presence outside MUCs: an XMPP user's own presence and subscriptions, puppets' presence, avatar hashes. */
import xml, { type Element } from "@xmpp/xml";
import { fromXmppPresence, parsePriority, toXmppPresence, type SubscriptionType, type UserPresence } from "../core/presence.js";
import { NS } from "./namespaces.js";
import { splitJid, type Address } from "../core/identity.js";

/** Presence of an XMPP user's resource (RFC 6121 §4), as the core models it. */
export interface ContactPresence {
  from: Address;
  presence: UserPresence;
  priority: number;
}

/**
 * Availability presence (no type, or unavailable) from an XMPP user; undefined for subscription
 * stanzas, probes, errors and MUC occupant presence (which carries a muc#user element).
 */
export function parseContactPresence(stanza: Element): ContactPresence | undefined {
  const type = stanza.attrs.type;
  if ((type !== undefined && type !== "unavailable") || !stanza.attrs.from || stanza.getChild("x", NS.mucUser)) return undefined;
  // Several <status/> may come in different languages (RFC 6121 §4.7.2.2): the one without xml:lang is the default.
  const statuses = stanza.getChildren("status");
  const status = (statuses.find((s) => s.attrs["xml:lang"] === undefined) ?? statuses[0])?.getText();
  const show = stanza.getChildText("show") ?? undefined;
  return {
    from: splitJid(stanza.attrs.from),
    presence: fromXmppPresence({ unavailable: type === "unavailable", show, status }),
    priority: parsePriority(stanza.getChildText("priority")),
  };
}

const SUBSCRIPTION_TYPES: readonly string[] = ["subscribe", "subscribed", "unsubscribe", "unsubscribed", "probe"];

/** The type of a subscription stanza or probe (RFC 6121 §3, §4.3); undefined for any other presence. */
export function subscriptionType(stanza: Element): SubscriptionType | undefined {
  const type = stanza.attrs.type;
  return type !== undefined && SUBSCRIPTION_TYPES.includes(type) ? (type as SubscriptionType) : undefined;
}

/** What a puppet's presence may carry besides availability: its avatar's SHA-1 (XEP-0153). */
export interface PresenceExtras {
  avatarHash?: string;
}

/** A puppet's presence to a contact: every presence a puppet sends to an XMPP user is rendered here. */
export function renderPuppetPresence(from: string, to: string, presence: UserPresence, extras: PresenceExtras = {}): Element {
  const { unavailable, show, status } = toXmppPresence(presence);
  return xml(
    "presence",
    { from, to, type: unavailable ? "unavailable" : undefined },
    show ? xml("show", {}, show) : undefined,
    status ? xml("status", {}, status) : undefined,
    renderAvatarUpdate(extras.avatarHash),
  );
}

/** A subscription stanza or a probe (RFC 6121 §3, §4.3), always between bare JIDs. */
export function renderSubscription(from: string, to: string, type: SubscriptionType): Element {
  return xml("presence", { from: splitJid(from).bare, to: splitJid(to).bare, type });
}

/**
 * The avatar hash a presence announces (XEP-0153): the hex SHA-1 of the image, "" when the
 * sender has no avatar, undefined when the presence does not say (no x element, or an empty one:
 * "not ready to advertise").
 */
export function parseAvatarHash(presence: Element): string | undefined {
  const photo = presence.getChild("x", NS.vcardUpdate)?.getChild("photo");
  if (!photo) return undefined;
  const hash = photo.getText().trim().toLowerCase();
  // Anything but a SHA-1 is not a hash the bridge could ever match; taken as "not telling".
  return hash === "" || /^[0-9a-f]{40}$/.test(hash) ? hash : undefined;
}

/** The x element a puppet's presence carries: its avatar's hash, empty for none, nothing when unknown. */
export function renderAvatarUpdate(hash: string | undefined): Element | undefined {
  return hash === undefined ? undefined : xml("x", { xmlns: NS.vcardUpdate }, hash ? xml("photo", {}, hash) : xml("photo"));
}
