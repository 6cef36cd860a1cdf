/** Stanzas in and out: parsing into the core model and rendering from it, nothing else. */
import xml, { type Element } from "@xmpp/xml";
import type { OccupantPresence, XmppInboundMessage, XmppMessageIds } from "../core/model.js";
import { NS } from "./namespaces.js";

export interface Address {
  bare: string;
  resource: string | undefined;
}

export function splitJid(jid: string): Address {
  const slash = jid.indexOf("/");
  return slash < 0 ? { bare: jid.toLowerCase(), resource: undefined } : { bare: jid.slice(0, slash).toLowerCase(), resource: jid.slice(slash + 1) };
}

function messageIds(stanza: Element, stanzaIdBy: string | undefined): XmppMessageIds {
  const ids: XmppMessageIds = {};
  if (stanza.attrs.id) ids.id = stanza.attrs.id;
  const origin = stanza.getChild("origin-id", NS.stanzaId)?.attrs.id;
  if (origin) ids.originId = origin;
  // Only a stanza-id added by the room itself is trusted: anyone else's could be forged by the sender.
  const stanzaId = stanza.getChildren("stanza-id", NS.stanzaId).find((el) => el.attrs.by !== undefined && splitJid(el.attrs.by).bare === stanzaIdBy)?.attrs.id;
  if (stanzaId) ids.stanzaId = stanzaId;
  return ids;
}

function sentAt(stanza: Element): number | undefined {
  const stamp = stanza.getChild("delay", NS.delay)?.attrs.stamp;
  const time = stamp ? Date.parse(stamp) : NaN;
  return Number.isFinite(time) ? time : undefined;
}

function withBody(body: string): Pick<XmppInboundMessage, "body" | "emote"> {
  return body.startsWith("/me ") ? { body: body.slice(4), emote: true } : { body };
}

/** A one-to-one chat message from an XMPP user to a puppet; undefined if it carries no text. */
export function parseDirectMessage(stanza: Element, matrixUser: string): XmppInboundMessage | undefined {
  const body = stanza.getChildText("body");
  if (body === null || body.trim() === "" || !stanza.attrs.from) return undefined;
  const time = sentAt(stanza);
  const nick = stanza.getChildText("nick", NS.nick)?.trim();
  return {
    ...withBody(body),
    ...(time === undefined ? {} : { sentAt: time }),
    ...(nick ? { senderName: nick } : {}),
    conversation: { kind: "dm", xmppUser: splitJid(stanza.attrs.from).bare, matrixUser },
    ids: messageIds(stanza, undefined),
  };
}

/** A groupchat message from a MUC occupant; undefined if it carries no text or has no occupant. */
export function parseGroupMessage(stanza: Element): XmppInboundMessage | undefined {
  const body = stanza.getChildText("body");
  const from = stanza.attrs.from ? splitJid(stanza.attrs.from) : undefined;
  if (body === null || body.trim() === "" || !from?.resource) return undefined;
  const occupantId = stanza.getChild("occupant-id", NS.occupantId)?.attrs.id;
  const time = sentAt(stanza);
  return {
    ...withBody(body),
    ...(time === undefined ? {} : { sentAt: time }),
    conversation: { kind: "muc", muc: from.bare, nick: from.resource, occupantKey: occupantId ?? from.resource },
    ids: messageIds(stanza, from.bare),
  };
}

/** The subject a groupchat message sets (XEP-0045 §8.1): a subject and no body; "" clears it. */
export function parseSubject(stanza: Element): { muc: string; subject: string } | undefined {
  const subject = stanza.getChild("subject");
  if (!subject || stanza.getChild("body") || !stanza.attrs.from) return undefined;
  return { muc: splitJid(stanza.attrs.from).bare, subject: subject.getText() };
}

/** MUC occupant presence (it carries a muc#user element); undefined for anything else. */
export function parseOccupantPresence(stanza: Element): OccupantPresence | undefined {
  const x = stanza.getChild("x", NS.mucUser);
  const from = stanza.attrs.from ? splitJid(stanza.attrs.from) : undefined;
  if (!x || !from?.resource || stanza.attrs.type === "error") return undefined;
  const codes = new Set(x.getChildren("status").map((s) => s.attrs.code));
  const item = x.getChild("item");
  const realJid = item?.attrs.jid ? splitJid(item.attrs.jid).bare : undefined;
  const occupantId = stanza.getChild("occupant-id", NS.occupantId)?.attrs.id;
  const presence: OccupantPresence = {
    muc: from.bare,
    nick: from.resource,
    occupantKey: occupantId ?? realJid ?? from.resource,
    available: stanza.attrs.type !== "unavailable",
    self: codes.has("110"),
  };
  if (realJid) presence.realJid = realJid;
  if (codes.has("301")) presence.removedBy = "ban";
  else if (codes.has("307")) presence.removedBy = "kick";
  if (codes.has("303") && item?.attrs.nick) presence.newNick = item.attrs.nick;
  return presence;
}

/** The defined condition of an error stanza (RFC 6120 §8.3), e.g. "conflict". */
export function errorCondition(stanza: Element): string | undefined {
  const error = stanza.getChild("error");
  return error?.getChildElements().find((el) => el.getNS() === NS.stanzas && el.name !== "text")?.name;
}

export interface OutgoingMessage {
  from: string;
  to: string;
  type: "chat" | "groupchat";
  /** Used as both the stanza id and the origin-id, so any reference to the message finds it. */
  id: string;
  body: string;
}

export function renderMessage(message: OutgoingMessage): Element {
  return xml(
    "message",
    { from: message.from, to: message.to, type: message.type, id: message.id },
    xml("body", {}, message.body),
    xml("origin-id", { xmlns: NS.stanzaId, id: message.id }),
    message.type === "chat" ? xml("active", { xmlns: NS.chatStates }) : undefined,
  );
}

/**
 * Joining a MUC (XEP-0045 §7.2): with no history, since the portal has it already, or with the history
 * since a time (what was missed while the bridge was away). Without the muc element the same presence
 * is a nick change of an occupant already in (§7.6).
 */
export function renderJoin(from: string, muc: string, nick: string, entering: { historySince?: number } | false = {}): Element {
  const history = entering && entering.historySince !== undefined ? { since: new Date(entering.historySince).toISOString() } : { maxstanzas: "0" };
  return xml("presence", { from, to: `${muc}/${nick}` }, entering ? xml("x", { xmlns: NS.muc }, xml("history", history)) : undefined);
}

export function renderLeave(from: string, muc: string, nick: string, status?: string): Element {
  return xml("presence", { from, to: `${muc}/${nick}`, type: "unavailable" }, status ? xml("status", {}, status) : undefined);
}

/** A moderator removes an occupant: kick (role none) or ban (affiliation outcast), XEP-0045 §8.2 and §9.1. */
export function renderModeration(from: string, muc: string, target: { nick: string; realJid?: string }, action: "kick" | "ban", reason: string): Element {
  const item =
    action === "kick"
      ? xml("item", { nick: target.nick, role: "none" }, xml("reason", {}, reason))
      : xml("item", { jid: target.realJid, affiliation: "outcast" }, xml("reason", {}, reason));
  return xml("iq", { type: "set", from, to: muc, id: `mod-${Date.now().toString(36)}` }, xml("query", { xmlns: `${NS.muc}#admin` }, item));
}
