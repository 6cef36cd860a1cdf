/** The stanzas of a gateway room (the bridge acting as a XEP-0045 MUC service): parsed and rendered. */
import xml, { type Element } from "@xmpp/xml";
import type { HistoryRequest } from "../core/model.js";
import type { MucAffiliation, MucRole } from "../core/gateway.js";
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

/** The room's subject, sent to an occupant on joining (empty when there is none). */
export function renderGatewaySubject(room: string, to: string, subject: string): Element {
  return xml("message", { from: room, to, type: "groupchat", id: `subject-${Date.now().toString(36)}` }, xml("subject", {}, subject));
}
