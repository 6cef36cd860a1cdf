/** Stanzas in and out: parsing into the core model and rendering from it, nothing else. */
import xml, { type Element } from "@xmpp/xml";
import type { OccupantPresence, XmppInboundMessage, XmppMessageIds } from "../core/model.js";
import { removeFallbackRanges } from "../core/relations.js";
import { xhtmlImToHtml } from "../core/formatting.js";
import { NS } from "./namespaces.js";
import { captionOf } from "../core/media.js";
import type { SharedFile } from "../core/model.js";
import { parseSharedFiles, renderSharedFile } from "./file-sharing.js";
import { parseAvatarHash, renderAvatarUpdate } from "./presence-stanzas.js";
import { splitJid } from "../core/identity.js";

export { splitJid, type Address } from "../core/identity.js";

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

/**
 * When a delayed message was sent (XEP-0203), never later than now. In a MUC only the room's own
 * delay (on its history) counts: a sender may add any delay it likes to what it says.
 */
function sentAt(stanza: Element, by?: string): number | undefined {
  const delay = stanza.getChildren("delay", NS.delay).find((d) => by === undefined || (d.attrs.from !== undefined && splitJid(d.attrs.from).bare === by));
  const time = delay?.attrs.stamp ? Date.parse(delay.attrs.stamp) : NaN;
  return Number.isFinite(time) ? Math.min(time, Date.now()) : undefined;
}

function withBody(body: string): Pick<XmppInboundMessage, "body" | "emote"> {
  return body.startsWith("/me ") ? { body: body.slice(4), emote: true } : { body };
}

/** The code-point ranges of the body that are fallback for a feature (XEP-0428). */
function fallbackRanges(stanza: Element, feature: string): { start: number; end: number }[] {
  return stanza
    .getChildren("fallback", NS.fallback)
    .filter((f) => f.attrs.for === feature)
    .flatMap((f) => f.getChildren("body"))
    .map((b) => ({ start: Number(b.attrs.start ?? 0), end: Number(b.attrs.end ?? Number.MAX_SAFE_INTEGER) }));
}

/**
 * What a message does to another one: corrects it (XEP-0308), replies to it (XEP-0461, with the quote
 * fallback cut from the body) or retracts it (XEP-0424, current and legacy forms).
 */
function references(stanza: Element, body: string): Pick<XmppInboundMessage, "body" | "replaces" | "replyTo" | "retracts"> {
  const retracts = stanza.getChild("retract", NS.retract)?.attrs.id ?? stanza.getChildren("apply-to", NS.fasten).find((a) => a.getChild("retract", NS.retractLegacy))?.attrs.id;
  if (retracts) return { body, retracts };
  const replaces = stanza.getChild("replace", NS.correct)?.attrs.id;
  if (replaces) return { body, replaces };
  const replyTo = stanza.getChild("reply", NS.reply)?.attrs.id;
  if (!replyTo) return { body };
  const text = removeFallbackRanges(body, fallbackRanges(stanza, NS.reply));
  const quote = body.endsWith(text) ? body.slice(0, body.length - text.length) : "";
  return { body: text, replyTo: { id: replyTo, quote } };
}

const CHAT_STATES = ["active", "composing", "paused", "inactive", "gone"];

/** Signals a message may carry besides text: reactions, a read marker, a chat state. */
function signals(stanza: Element): Pick<XmppInboundMessage, "reactions" | "displayed" | "typing"> {
  const out: Pick<XmppInboundMessage, "reactions" | "displayed" | "typing"> = {};
  const reactions = stanza.getChild("reactions", NS.reactions);
  if (reactions?.attrs.id) {
    const emojis = reactions.getChildren("reaction").map((r) => r.getText().trim()).filter((e) => e !== "");
    out.reactions = { id: reactions.attrs.id, emojis: [...new Set(emojis)] };
  }
  const displayed = stanza.getChild("displayed", NS.markers)?.attrs.id;
  if (displayed) out.displayed = displayed;
  const state = stanza.getChildElements().find((el) => el.getNS() === NS.chatStates && CHAT_STATES.includes(el.name));
  if (state) out.typing = state.name === "composing";
  return out;
}

type Content = Pick<XmppInboundMessage, "body" | "html" | "emote" | "replaces" | "replyTo" | "retracts" | "reactions" | "displayed" | "typing" | "thread" | "files">;

/** The text, files, references and signals of a message; undefined when it carries none of them. */
function content(stanza: Element): Content | undefined {
  const body = stanza.getChildText("body") ?? "";
  const refs = references(stanza, body);
  const extra = signals(stanza);
  if (refs.retracts) return { body: "", retracts: refs.retracts };
  // A reaction's body, if any, is only a fallback for clients without XEP-0444.
  if (extra.reactions) return { body: "", reactions: extra.reactions };
  // A correction carries new text; a file in it would be bridged a second time.
  const files = refs.replaces ? [] : parseSharedFiles(stanza);
  const text = files.length > 0 ? captionOf(refs.body, files.map((f) => f.url)) : refs.body;
  if (text.trim() === "" && files.length === 0) return extra.displayed !== undefined || extra.typing !== undefined ? { body: "", ...extra } : undefined;
  const thread = stanza.getChildText("thread")?.trim();
  // XHTML-IM (XEP-0071) only stands for the whole body: a reply's cut quote or a file's link would be in it too.
  const xhtml = refs.replyTo || files.length > 0 ? undefined : stanza.getChild("html", NS.xhtmlIm)?.getChild("body", NS.xhtml);
  const html = xhtml ? xhtmlImToHtml(innerXml(xhtml)) : undefined;
  return { ...refs, ...withBody(text), ...extra, ...(thread ? { thread } : {}), ...(html ? { html } : {}), ...(files.length > 0 ? { files } : {}) };
}

const escapeText = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/**
 * The markup inside an element, written with an explicit stack: Element.toString recurses, and a
 * few thousand nested elements (which fit in any stanza) would overflow the call stack.
 */
export function innerXml(element: Element): string {
  const out: string[] = [];
  const stack: (Element | string | { close: string })[] = [...element.children].reverse();
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if (typeof item === "string") out.push(escapeText(item));
    else if ("close" in item) out.push(item.close);
    else {
      const attrs = Object.entries(item.attrs).map(([k, v]) => (v === undefined ? "" : ` ${k}="${escapeText(v).replace(/"/g, "&quot;")}"`));
      out.push(`<${item.name}${attrs.join("")}>`);
      stack.push({ close: `</${item.name}>` });
      for (let i = item.children.length - 1; i >= 0; i--) stack.push(item.children[i]!);
    }
  }
  return out.join("");
}

/** A one-to-one chat message from an XMPP user to a puppet; undefined if it carries no text. */
export function parseDirectMessage(stanza: Element, matrixUser: string): XmppInboundMessage | undefined {
  const text = content(stanza);
  if (!text || !stanza.attrs.from) return undefined;
  const time = sentAt(stanza);
  const nick = stanza.getChildText("nick", NS.nick)?.trim();
  return {
    ...text,
    ...(time === undefined ? {} : { sentAt: time }),
    ...(nick ? { senderName: nick } : {}),
    // A receipt can only name a message that has an id (XEP-0184 §5.4).
    ...(stanza.attrs.id && stanza.getChild("request", NS.receipts) ? { receiptRequested: true } : {}),
    conversation: { kind: "dm", xmppUser: splitJid(stanza.attrs.from).bare, matrixUser, from: stanza.attrs.from },
    ids: messageIds(stanza, undefined),
  };
}

/** A groupchat message an XMPP user sends to a gateway room; undefined if it carries no text. */
export function parseGatewayMessage(stanza: Element, room: string): XmppInboundMessage | undefined {
  const text = content(stanza);
  if (!text || !stanza.attrs.from) return undefined;
  const from = splitJid(stanza.attrs.from);
  return { ...text, conversation: { kind: "gateway", room, occupant: stanza.attrs.from, xmppUser: from.bare }, ids: messageIds(stanza, undefined) };
}

/** A groupchat message from a MUC occupant; undefined if it carries no text or has no occupant. */
export function parseGroupMessage(stanza: Element): XmppInboundMessage | undefined {
  const text = content(stanza);
  const from = stanza.attrs.from ? splitJid(stanza.attrs.from) : undefined;
  if (!text || !from?.resource) return undefined;
  const occupantId = stanza.getChild("occupant-id", NS.occupantId)?.attrs.id;
  const time = sentAt(stanza, from.bare);
  return {
    ...text,
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
  const avatarHash = parseAvatarHash(stanza);
  if (avatarHash !== undefined && presence.available) presence.avatarHash = avatarHash;
  if (codes.has("301")) presence.removedBy = "ban";
  else if (codes.has("307")) presence.removedBy = "kick";
  if (codes.has("303") && item?.attrs.nick) presence.newNick = item.attrs.nick;
  return presence;
}

/** The MUC's word that it was destroyed (XEP-0045 §10.9): the unavailable presence each occupant gets, with <destroy/>. */
export function parseRoomDestroyed(stanza: Element): { muc: string; alternate?: string; reason?: string } | undefined {
  const destroy = stanza.getChild("x", NS.mucUser)?.getChild("destroy");
  if (!destroy || stanza.attrs.type !== "unavailable" || !stanza.attrs.from) return undefined;
  const alternate = destroy.attrs.jid ? splitJid(destroy.attrs.jid).bare : undefined;
  const reason = destroy.getChildText("reason")?.trim();
  return { muc: splitJid(stanza.attrs.from).bare, ...(alternate ? { alternate } : {}), ...(reason ? { reason } : {}) };
}

/**
 * The MUC's notice that its configuration changed (XEP-0045 §10.2.1, status 104): a groupchat message
 * from the room itself. Its name or avatar (XEP-0486) may be new.
 */
export function parseRoomChange(stanza: Element): { muc: string } | undefined {
  const from = stanza.attrs.from ? splitJid(stanza.attrs.from) : undefined;
  if (!from || from.resource || stanza.attrs.type !== "groupchat") return undefined;
  const codes = stanza.getChild("x", NS.mucUser)?.getChildren("status").map((s) => s.attrs.code) ?? [];
  return codes.includes("104") ? { muc: from.bare } : undefined;
}

/** The defined condition of an error stanza (RFC 6120 §8.3), e.g. "conflict". */
export function errorCondition(stanza: Element): string | undefined {
  const error = stanza.getChild("error");
  return error?.getChildElements().find((el) => el.getNS() === NS.stanzas && el.name !== "text")?.name;
}

/** Whether an error stanza (RFC 6120 §8.3.2) says that trying again later may work: type wait. */
export const errorIsTemporary = (stanza: Element): boolean => stanza.getChild("error")?.attrs.type === "wait";

/** The human-readable text of an error stanza, if it has one. */
export const errorText = (stanza: Element): string | undefined => stanza.getChild("error")?.getChildText("text", NS.stanzas)?.trim() || undefined;

export interface OutgoingMessage {
  from: string;
  to: string;
  type: "chat" | "groupchat";
  /** Used as both the stanza id and the origin-id, so any reference to the message finds it. */
  id: string;
  body: string;
  /** Corrects the message with this id (XEP-0308); `fallbackLength` code points of the body are a fallback prefix. */
  replaces?: { id: string; fallbackLength?: number };
  /** Replies to a message (XEP-0461); the body starts with a quote of `fallbackLength` code points. */
  reply?: { id: string; to?: string; fallbackLength: number };
  /** Retracts the sender's message with this id (XEP-0424); the body is a fallback for old clients. */
  retracts?: string;
  /** The conversation thread (XEP-0201). */
  thread?: string;
  /** Mentions as XEP-0372 references: code-point ranges of the body and the xmpp: URI of who is meant. */
  references?: { begin: number; end: number; uri: string }[];
  /** A file shared by its link, which is then the whole body (clients show a file inline only then). */
  file?: SharedFile;
  /** The id a room gave the message (XEP-0359), when the bridge is the room: a gateway room's. */
  stanzaId?: { id: string; by: string };
  /** When the message was sent, for one that is delivered later: history (XEP-0203). */
  delay?: { stamp: number; from: string };
}

const fallbackFor = (feature: string, length: number | undefined): Element | undefined =>
  length ? xml("fallback", { xmlns: NS.fallback, for: feature }, xml("body", { start: "0", end: String(length) })) : undefined;

export function renderMessage(message: OutgoingMessage): Element {
  const { replaces, reply, retracts } = message;
  return xml(
    "message",
    { from: message.from, to: message.to, type: message.type, id: message.id },
    xml("body", {}, message.body),
    xml("origin-id", { xmlns: NS.stanzaId, id: message.id }),
    replaces ? xml("replace", { xmlns: NS.correct, id: replaces.id }) : undefined,
    replaces ? fallbackFor(NS.correct, replaces.fallbackLength) : undefined,
    reply ? xml("reply", { xmlns: NS.reply, id: reply.id, to: reply.to }) : undefined,
    reply ? fallbackFor(NS.reply, reply.fallbackLength) : undefined,
    retracts ? xml("retract", { xmlns: NS.retract, id: retracts }) : undefined,
    retracts ? xml("fallback", { xmlns: NS.fallback, for: NS.retract }) : undefined,
    retracts ? xml("store", { xmlns: NS.hints }) : undefined,
    message.thread ? xml("thread", {}, message.thread) : undefined,
    ...(message.file ? renderSharedFile(message.file) : []),
    ...(message.references ?? []).map((r) => xml("reference", { xmlns: NS.reference, type: "mention", begin: String(r.begin), end: String(r.end), uri: r.uri })),
    message.type === "chat" && !retracts ? xml("active", { xmlns: NS.chatStates }) : undefined,
    message.stanzaId ? xml("stanza-id", { xmlns: NS.stanzaId, id: message.stanzaId.id, by: message.stanzaId.by }) : undefined,
    message.delay ? xml("delay", { xmlns: NS.delay, stamp: new Date(message.delay.stamp).toISOString(), from: message.delay.from }) : undefined,
  );
}

/** How much of a MUC's history a puppet asks for as it enters (XEP-0045 §7.2.15): since a time, or the last stanzas. */
export type JoinHistory = { since: number } | { maxstanzas: number };

/**
 * Joining a MUC (XEP-0045 §7.2): with no history, since the portal has it already, or with what was
 * missed while the bridge was away (`history`). Without the muc element the same presence
 * is a nick change (§7.6) or a presence update of an occupant already in. Every one carries the
 * avatar's hash (XEP-0153) when it is known, since each replaces the last.
 */
export function renderJoin(from: string, muc: string, nick: string, entering: { history?: JoinHistory } | false = {}, avatarHash?: string): Element {
  const wanted = entering ? entering.history : undefined;
  const history = wanted && "since" in wanted ? { since: new Date(wanted.since).toISOString() } : { maxstanzas: String(wanted?.maxstanzas ?? 0) };
  return xml("presence", { from, to: `${muc}/${nick}` }, entering ? xml("x", { xmlns: NS.muc }, xml("history", history)) : undefined, renderAvatarUpdate(avatarHash));
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

/** A signal without text (XEP-0444 reactions, XEP-0333 marker, XEP-0085 chat state), from a puppet. */
export interface OutgoingSignal {
  from: string;
  to: string;
  type: "chat" | "groupchat";
  id: string;
  reactions?: { id: string; emojis: readonly string[] };
  displayed?: string;
  chatState?: "composing" | "paused" | "active";
}

export function renderSignal(signal: OutgoingSignal): Element {
  const { reactions } = signal;
  return xml(
    "message",
    { from: signal.from, to: signal.to, type: signal.type, id: signal.id },
    reactions ? xml("reactions", { xmlns: NS.reactions, id: reactions.id }, ...reactions.emojis.map((e) => xml("reaction", {}, e))) : undefined,
    signal.displayed ? xml("displayed", { xmlns: NS.markers, id: signal.displayed }) : undefined,
    signal.chatState ? xml(signal.chatState, { xmlns: NS.chatStates }) : undefined,
    // Reactions and markers belong in archives; chat states do not (XEP-0334).
    xml(signal.chatState ? "no-store" : "store", { xmlns: NS.hints }),
  );
}

/**
 * A MUC's announcement that a moderator removed a message (XEP-0425): the current form (a retract
 * carrying moderated) and the older fasten form, which Prosody's mod_muc_moderation still sends.
 */
export function parseModeration(stanza: Element): { muc: string; stanzaId: string; by?: string; reason?: string } | undefined {
  const from = stanza.attrs.from ? splitJid(stanza.attrs.from) : undefined;
  if (!from || from.resource) return undefined;
  const current = stanza.getChild("retract", NS.retract);
  const currentBy = current?.getChild("moderated", NS.moderate);
  const legacy = stanza.getChildren("apply-to", NS.fasten).find((a) => a.getChild("moderated", NS.moderateLegacy)?.getChild("retract", NS.retractLegacy));
  const legacyBy = legacy?.getChild("moderated", NS.moderateLegacy);
  const stanzaId = currentBy ? current?.attrs.id : legacy?.attrs.id;
  if (!stanzaId) return undefined;
  const by = (currentBy ?? legacyBy)?.attrs.by;
  const reason = (currentBy ? current?.getChildText("reason") : legacyBy?.getChildText("reason"))?.trim();
  return { muc: from.bare, stanzaId, ...(by ? { by } : {}), ...(reason ? { reason } : {}) };
}

/** A moderator asks the MUC to remove a message by its stanza-id (XEP-0425, current or older form). */
export function renderModerationRequest(from: string, muc: string, stanzaId: string, reason: string, legacy: boolean): Element {
  const id = `moderate-${Date.now().toString(36)}`;
  if (legacy) {
    return xml(
      "iq",
      { type: "set", from, to: muc, id },
      xml("apply-to", { xmlns: NS.fasten, id: stanzaId }, xml("moderate", { xmlns: NS.moderateLegacy }, xml("retract", { xmlns: NS.retractLegacy }), xml("reason", {}, reason))),
    );
  }
  return xml("iq", { type: "set", from, to: muc, id }, xml("moderate", { xmlns: NS.moderate, id: stanzaId }, xml("retract", { xmlns: NS.retract }), xml("reason", {}, reason)));
}

/** The addresses a message mentions through XEP-0372 references (xmpp: URIs, query parts dropped). */
export function mentionedAddresses(stanza: Element): string[] {
  return stanza
    .getChildren("reference", NS.reference)
    .filter((r) => r.attrs.type === "mention" && r.attrs.uri?.startsWith("xmpp:"))
    .flatMap((r) => {
      // A malformed escape (a lone "%") makes the reference no mention, not the message unreadable.
      try {
        return [decodeURIComponent(r.attrs.uri!.slice(5).split("?")[0]!)];
      } catch {
        return [];
      }
    });
}

/** A delivery receipt (XEP-0184): the message with this id has arrived. */
export function renderReceipt(from: string, to: string, id: string): Element {
  return xml("message", { from, to, id: `rcpt-${id}` }, xml("received", { xmlns: NS.receipts, id }), xml("store", { xmlns: NS.hints }));
}

/** An error answering a stanza (RFC 6120 §8.3): one a gateway room does not take, or one the bridge cannot take now. */
export function renderStanzaError(name: "message" | "presence", from: string | undefined, to: string | undefined, id: string | undefined, type: "auth" | "cancel" | "modify" | "wait", condition: string, text: string): Element {
  return xml(
    name,
    { ...(from ? { from } : {}), ...(to ? { to } : {}), type: "error", ...(id ? { id } : {}) },
    xml("error", { type }, xml(condition, { xmlns: "urn:ietf:params:xml:ns:xmpp-stanzas" }), xml("text", { xmlns: "urn:ietf:params:xml:ns:xmpp-stanzas" }, text)),
  );
}
