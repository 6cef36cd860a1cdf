import xml, { type Element } from "@xmpp/xml";
import type { ComponentConnection } from "./component-connection.js";
import { NS } from "./namespaces.js";
import { splitJid } from "../core/identity.js";

export interface ServiceInfoOptions {
  name: string;
  version: string;
  /** Whether an address on the component domain is a puppet the bridge answers for. */
  isPuppet(jid: string): boolean;
  /** Whether a bare JID on the component domain is a gateway room (a Matrix room as a MUC). */
  isGatewayRoom(jid: string): boolean;
  /** Whether `from` (a full JID) is in the gateway room `to` (room/nick) under that nick: XEP-0410 self-ping. */
  isOccupant?(from: string, to: string): Promise<boolean>;
  /** What a gateway room tells anyone asking (XEP-0045 §6.4); undefined when it tells nothing. */
  describeRoom?(room: string): Promise<RoomInfo | undefined>;
  /** A page of the gateway rooms anyone may join (the homeserver's public rooms), after `after` (an opaque token). */
  publicRooms?(max: number, after: string | undefined): Promise<RoomList>;
}

export interface RoomInfo {
  name?: string;
  description?: string;
  occupants: number;
  /** Anyone may join; else members only. */
  open: boolean;
}

/** XEP-0128: the room's name, description and occupant count as muc#roominfo. */
function roomInfoForm(info: RoomInfo): Element {
  const field = (name: string, value: string, type?: string) => xml("field", { var: name, ...(type ? { type } : {}) }, xml("value", {}, value));
  return xml(
    "x",
    { xmlns: NS.dataForms, type: "result" },
    field("FORM_TYPE", `${NS.muc}#roominfo`, "hidden"),
    info.description !== undefined ? field("muc#roominfo_description", info.description) : undefined,
    field("muc#roominfo_occupants", String(info.occupants)),
  );
}

export interface RoomList {
  rooms: { jid: string; name?: string }[];
  /** The token of the next page, when there is one. */
  next?: string;
  /** How many there are in all, when known. */
  count?: number;
}

/** Public rooms listed at once at the most, when the client asks for no other amount (XEP-0059). */
const ROOMS_PER_PAGE = 50;

/** What a gateway room is (XEP-0045 §6.4): a MUC whose messages carry stanza-ids and occupant-ids. */
const GATEWAY_ROOM_FEATURES = [NS.discoInfo, NS.muc, NS.stanzaId, NS.occupantId, NS.mam, "muc_persistent", "muc_semianonymous", "muc_unmoderated"];

/** Features the component domain advertises: only what the bridge really implements. */
export const DOMAIN_FEATURES = [NS.discoInfo, NS.discoItems, NS.ping, NS.version];

/**
 * Answers disco#info (XEP-0030), ping (XEP-0199) and software version (XEP-0092) on the component
 * domain and on puppets' addresses; anything else is answered service-unavailable by the iq callee.
 */
export function answerServiceQueries(connection: ComponentConnection, options: ServiceInfoOptions): void {
  const knownAddress = (to: string): boolean => to === connection.domain || options.isPuppet(splitJid(to).bare);

  connection.iqCallee.get(NS.discoInfo, "query", async ({ stanza, element }) => {
    const to = stanza.attrs.to ?? connection.domain;
    if (!knownAddress(to) || element.attrs.node) return undefined;
    const { bare, resource } = splitJid(to);
    if (options.isGatewayRoom(bare) && !resource) {
      const info = await options.describeRoom?.(bare);
      const identity = xml("identity", { category: "conference", type: "text", name: info?.name ?? bare.split("@")[0] });
      const access = info ? (info.open ? ["muc_public", "muc_open"] : ["muc_hidden", "muc_membersonly"]) : [];
      const features = [...GATEWAY_ROOM_FEATURES, ...access].map((v) => xml("feature", { var: v }));
      return xml("query", { xmlns: NS.discoInfo }, identity, ...features, info ? roomInfoForm(info) : undefined);
    }
    if (to !== connection.domain) {
      // Puppets answer vCard requests (XEP-0054) and confirm delivery to Matrix (XEP-0184).
      const features = [...DOMAIN_FEATURES, NS.vcard, NS.receipts];
      return xml("query", { xmlns: NS.discoInfo }, xml("identity", { category: "account", type: "registered" }), ...features.map((v) => xml("feature", { var: v })));
    }
    // The domain is a gateway to Matrix, and the MUC service its gateway rooms are on, where they are offered.
    const muc = options.publicRooms ? [xml("identity", { category: "conference", type: "text", name: `${options.name}: Matrix rooms` })] : [];
    const features = options.publicRooms ? [...DOMAIN_FEATURES, NS.muc, NS.rsm] : DOMAIN_FEATURES;
    return xml("query", { xmlns: NS.discoInfo }, xml("identity", { category: "gateway", type: "matrix", name: options.name }), ...muc, ...features.map((v) => xml("feature", { var: v })));
  });

  connection.iqCallee.get(NS.discoItems, "query", async ({ stanza, element }) => {
    const to = stanza.attrs.to ?? connection.domain;
    if (!knownAddress(to) || element.attrs.node) return undefined;
    if (to !== connection.domain || !options.publicRooms) return xml("query", { xmlns: NS.discoItems });
    const set = element.getChild("set", NS.rsm);
    const max = Math.max(0, Math.min(Number(set?.getChildText("max") ?? ROOMS_PER_PAGE) || ROOMS_PER_PAGE, ROOMS_PER_PAGE));
    const page = await options.publicRooms(max, set?.getChildText("after") ?? undefined);
    const items = page.rooms.map((r) => xml("item", { jid: r.jid, ...(r.name ? { name: r.name } : {}) }));
    const first = page.rooms[0]?.jid;
    const rsm = xml("set", { xmlns: NS.rsm }, first ? xml("first", {}, first) : undefined, page.next ? xml("last", {}, page.next) : undefined, page.count !== undefined ? xml("count", {}, String(page.count)) : undefined);
    return xml("query", { xmlns: NS.discoItems }, ...items, rsm);
  });

  // XEP-0199 §4: the answer to a ping is an empty result. XEP-0410: a ping to one's own nick in a gateway
  // room says whether one is still in; one who is not gets not-acceptable, and joins again.
  connection.iqCallee.get(NS.ping, "ping", async ({ stanza }) => {
    const to = stanza.attrs.to ?? connection.domain;
    if (!knownAddress(to)) return undefined;
    const { bare, resource } = splitJid(to);
    if (!resource || !options.isGatewayRoom(bare) || !options.isOccupant) return true;
    return (await options.isOccupant(stanza.attrs.from ?? "", to)) ? true : xml("error", { type: "cancel" }, xml("not-acceptable", { xmlns: NS.stanzas }));
  });

  connection.iqCallee.get(NS.version, "query", ({ stanza }) => {
    if (!knownAddress(stanza.attrs.to ?? connection.domain)) return undefined;
    return xml("query", { xmlns: NS.version }, xml("name", {}, options.name), xml("version", {}, options.version));
  });
}
