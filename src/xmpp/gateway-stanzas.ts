/** The stanzas of a gateway room (the bridge acting as a XEP-0045 MUC service): parsed and rendered. */
import xml, { type Element } from "@xmpp/xml";
import type { HistoryRequest } from "../core/model.js";
import type { MucAffiliation, MucRole } from "../core/gateway.js";
import { splitJid } from "../core/identity.js";
import type { ComponentConnection } from "./component-connection.js";
import { NS } from "./namespaces.js";

/** What an occupant's presence to a gateway room asks: to be in under a nick (with the history it wants), or to leave. */
export function parseGatewayPresence(stanza: Element): { available: boolean; history?: HistoryRequest } | undefined {
  const type = stanza.attrs.type;
  if (type === "unavailable") return { available: false };
  if (type !== undefined) return undefined;
  const history = stanza.getChild("x", NS.muc)?.getChild("history");
  if (!history) return { available: true };
  const number = (name: string): number | undefined => {
    const value = Number(history.attrs[name]);
    return history.attrs[name] !== undefined && Number.isInteger(value) && value >= 0 ? value : undefined;
  };
  const since = history.attrs.since ? Date.parse(history.attrs.since) : NaN;
  const request: HistoryRequest = {};
  for (const key of ["maxstanzas", "maxchars", "seconds"] as const) {
    const value = number(key);
    if (value !== undefined) request[key] = value;
  }
  if (Number.isFinite(since)) request.since = since;
  return { available: true, history: request };
}

export interface OccupantPresence {
  /** The room's JID with the occupant's nick. */
  from: string;
  to: string;
  affiliation: MucAffiliation;
  role: MucRole;
  /** XEP-0421: stable for one Matrix user or XMPP user in the room. */
  occupantId: string;
  /** XEP-0045 status codes: 110 the recipient itself, 303 nick change, 307 kicked, 301 banned... */
  statuses?: number[];
  unavailable?: boolean;
  /** With status 303: the new nick. */
  newNick?: string;
}

export function renderOccupantPresence(p: OccupantPresence): Element {
  const item = xml("item", { affiliation: p.affiliation, role: p.unavailable ? "none" : p.role, ...(p.newNick ? { nick: p.newNick } : {}) });
  return xml(
    "presence",
    { from: p.from, to: p.to, ...(p.unavailable ? { type: "unavailable" } : {}) },
    xml("x", { xmlns: NS.mucUser }, item, ...(p.statuses ?? []).map((code) => xml("status", { code: String(code) }))),
    xml("occupant-id", { xmlns: NS.occupantId, id: p.occupantId }),
  );
}

/** A join refused (XEP-0045 §7.2): the error, and nothing else. */
export function renderJoinError(from: string, to: string, type: "cancel" | "auth" | "modify" | "wait", condition: string, text: string): Element {
  return xml(
    "presence",
    { from, to, type: "error" },
    xml("x", { xmlns: NS.muc }),
    xml("error", { type }, xml(condition, { xmlns: "urn:ietf:params:xml:ns:xmpp-stanzas" }), xml("text", { xmlns: "urn:ietf:params:xml:ns:xmpp-stanzas" }, text)),
  );
}

/** The room's subject (empty when there is none): from the room on joining, from the occupant who changed it. */
export function renderGatewaySubject(from: string, to: string, subject: string): Element {
  return xml("message", { from, to, type: "groupchat", id: `subject-${Date.now().toString(36)}` }, xml("subject", {}, subject));
}

/** What a moderator asks of a gateway room (XEP-0045 §8.2 kick, §9.1 ban): whom, and why. */
export interface ModerationRequest {
  action: "kick" | "ban";
  /** A kick names the occupant by nick; a ban names a bare JID. */
  nick?: string;
  jid?: string;
  reason?: string;
}

/** The kick or ban a muc#admin query asks; undefined for any other request (a role or affiliation change). */
export function parseModerationRequest(query: Element): ModerationRequest | undefined {
  const item = query.getChild("item");
  if (!item) return undefined;
  const reason = item.getChildText("reason") ?? undefined;
  const why = reason ? { reason } : {};
  if (item.attrs.role === "none" && item.attrs.nick) return { action: "kick", nick: item.attrs.nick, ...why };
  if (item.attrs.affiliation === "outcast" && item.attrs.jid) return { action: "ban", jid: item.attrs.jid, ...why };
  return undefined;
}

/** XEP-0249: an invitation from a user to a room. */
export function renderDirectInvitation(from: string, to: string, room: string, reason: string | undefined): Element {
  return xml("message", { from, to, id: `invite-${Date.now().toString(36)}` }, xml("x", { xmlns: NS.conference, jid: room, ...(reason ? { reason } : {}) }));
}

/** XEP-0045 §7.8.2: the room passing on an occupant's invitation. */
export function renderMediatedInvitation(room: string, to: string, inviter: string, reason: string | undefined): Element {
  return xml("message", { from: room, to, id: `invite-${Date.now().toString(36)}` }, xml("x", { xmlns: NS.mucUser }, xml("invite", { from: inviter }, reason ? xml("reason", {}, reason) : undefined)));
}

/**
 * Answers a moderator's kick or ban to a gateway room: empty when done, else the refusal's error. Other
 * admin requests (roles, affiliations, lists) are not offered.
 */
export function answerModerationRequests(
  connection: ComponentConnection,
  isGatewayRoom: (jid: string) => boolean,
  moderate: (from: string, room: string, request: ModerationRequest) => Promise<{ type: string; condition: string; text: string } | undefined>,
): void {
  connection.iqCallee.set(NS.mucAdmin, "query", async ({ stanza, element }) => {
    const room = splitJid(stanza.attrs.to ?? "");
    if (room.resource || !isGatewayRoom(room.bare)) return undefined;
    const request = parseModerationRequest(element);
    if (!request) return xml("error", { type: "cancel" }, xml("feature-not-implemented", { xmlns: NS.stanzas }));
    const refusal = await moderate(stanza.attrs.from ?? "", room.bare, request);
    return refusal ? xml("error", { type: refusal.type }, xml(refusal.condition, { xmlns: NS.stanzas }), xml("text", { xmlns: NS.stanzas }, refusal.text)) : true;
  });
}

/** What a XEP-0313 query asks of a gateway room's archive: a page after or before a message, or the latest. */
export interface ArchiveQuery {
  queryId?: string;
  max: number;
  /** A message's stanza-id: the page after it. */
  after?: string;
  /** A message's stanza-id: the page before it; "" for the latest page. */
  before?: string;
}

/** A message of the archive, as the room shows it. */
export interface ArchivedMessage {
  /** The stanza-id the room gave it. */
  id: string;
  /** room/nick of its sender. */
  from: string;
  body: string;
  sentAt: number;
}

const ARCHIVE_PAGE = 50;

export function parseArchiveQuery(query: Element): ArchiveQuery {
  const set = query.getChild("set", NS.rsm);
  const max = Math.max(1, Math.min(Number(set?.getChildText("max") ?? ARCHIVE_PAGE) || ARCHIVE_PAGE, ARCHIVE_PAGE));
  const after = set?.getChildText("after") ?? undefined;
  const before = set?.getChild("before") ? (set.getChildText("before") ?? "") : undefined;
  return { max, ...(query.attrs.queryid ? { queryId: query.attrs.queryid } : {}), ...(after ? { after } : {}), ...(before !== undefined ? { before } : {}) };
}

/**
 * Answers XEP-0313 queries to gateway rooms: each message of the page as a result message, then the
 * iq result with the page's first and last ids and whether it is the last page.
 */
export function answerArchiveQueries(
  connection: ComponentConnection,
  isGatewayRoom: (jid: string) => boolean,
  search: (from: string, room: string, query: ArchiveQuery) => Promise<{ messages: ArchivedMessage[]; complete: boolean } | { type: string; condition: string; text: string }>,
): void {
  connection.iqCallee.set(NS.mam, "query", async ({ stanza, element }) => {
    const room = splitJid(stanza.attrs.to ?? "");
    if (room.resource || !isGatewayRoom(room.bare)) return undefined;
    const query = parseArchiveQuery(element);
    const from = stanza.attrs.from ?? "";
    const page = await search(from, room.bare, query);
    if ("condition" in page) return xml("error", { type: page.type }, xml(page.condition, { xmlns: NS.stanzas }), xml("text", { xmlns: NS.stanzas }, page.text));
    for (const m of page.messages) {
      const original = xml("message", { from: m.from, type: "groupchat", id: m.id }, xml("body", {}, m.body), xml("stanza-id", { xmlns: NS.stanzaId, id: m.id, by: room.bare }));
      const forwarded = xml("forwarded", { xmlns: NS.forward }, xml("delay", { xmlns: NS.delay, stamp: new Date(m.sentAt).toISOString() }), original);
      await connection.send(xml("message", { from: room.bare, to: from, id: `mam-${m.id}` }, xml("result", { xmlns: NS.mam, id: m.id, ...(query.queryId ? { queryid: query.queryId } : {}) }, forwarded)));
    }
    const [first, last] = [page.messages[0]?.id, page.messages.at(-1)?.id];
    const set = xml("set", { xmlns: NS.rsm }, first ? xml("first", {}, first) : undefined, last ? xml("last", {}, last) : undefined);
    return xml("fin", { xmlns: NS.mam, ...(page.complete ? { complete: "true" } : {}) }, set);
  });
}
