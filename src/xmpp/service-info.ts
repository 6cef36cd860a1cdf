import xml from "@xmpp/xml";
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
}

/** What a gateway room is (XEP-0045 §6.4): a MUC whose messages carry stanza-ids and occupant-ids. */
const GATEWAY_ROOM_FEATURES = [NS.discoInfo, NS.muc, NS.stanzaId, NS.occupantId, "muc_persistent", "muc_semianonymous", "muc_unmoderated"];

/** Features the component domain advertises: only what the bridge really implements. */
export const DOMAIN_FEATURES = [NS.discoInfo, NS.discoItems, NS.ping, NS.version];

/**
 * Answers disco#info (XEP-0030), ping (XEP-0199) and software version (XEP-0092) on the component
 * domain and on puppets' addresses; anything else is answered service-unavailable by the iq callee.
 */
export function answerServiceQueries(connection: ComponentConnection, options: ServiceInfoOptions): void {
  const knownAddress = (to: string): boolean => to === connection.domain || options.isPuppet(splitJid(to).bare);

  connection.iqCallee.get(NS.discoInfo, "query", ({ stanza, element }) => {
    const to = stanza.attrs.to ?? connection.domain;
    if (!knownAddress(to) || element.attrs.node) return undefined;
    const { bare, resource } = splitJid(to);
    if (options.isGatewayRoom(bare) && !resource) {
      const identity = xml("identity", { category: "conference", type: "text", name: bare.split("@")[0] });
      return xml("query", { xmlns: NS.discoInfo }, identity, ...GATEWAY_ROOM_FEATURES.map((v) => xml("feature", { var: v })));
    }
    const identity =
      to === connection.domain
        ? xml("identity", { category: "gateway", type: "matrix", name: options.name })
        : xml("identity", { category: "account", type: "registered" });
    // Puppets answer vCard requests (XEP-0054) and confirm delivery to Matrix (XEP-0184); the domain itself does neither.
    const features = to === connection.domain ? DOMAIN_FEATURES : [...DOMAIN_FEATURES, NS.vcard, NS.receipts];
    return xml("query", { xmlns: NS.discoInfo }, identity, ...features.map((v) => xml("feature", { var: v })));
  });

  connection.iqCallee.get(NS.discoItems, "query", ({ stanza, element }) => {
    const to = stanza.attrs.to ?? connection.domain;
    if (!knownAddress(to) || element.attrs.node) return undefined;
    return xml("query", { xmlns: NS.discoItems });
  });

  // XEP-0199 §4: the answer to a ping is an empty result.
  connection.iqCallee.get(NS.ping, "ping", ({ stanza }) => (knownAddress(stanza.attrs.to ?? connection.domain) ? true : undefined));

  connection.iqCallee.get(NS.version, "query", ({ stanza }) => {
    if (!knownAddress(stanza.attrs.to ?? connection.domain)) return undefined;
    return xml("query", { xmlns: NS.version }, xml("name", {}, options.name), xml("version", {}, options.version));
  });
}
