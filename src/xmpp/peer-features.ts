import xml from "@xmpp/xml";
import type { Logger } from "../log.js";
import type { ComponentConnection } from "./component-connection.js";
import { NS } from "./namespaces.js";
import { BoundedMap } from "../core/bounded-map.js";
import { splitJid } from "../core/identity.js";

const MAX_ENTRIES = 10_000;
const FEATURES_TTL_MS = 3600_000;

/**
 * What an XMPP user's client can show (XEP-0030 disco#info of the resource that last wrote), so the
 * bridge can send readable text instead of an element the client would drop. Both maps are bounded.
 */
export class PeerFeatures {
  /** bare JID -> the full JID that last wrote to a puppet. */
  private readonly lastResource = new BoundedMap<string, string>(MAX_ENTRIES);
  /** full JID -> its features and when they were read. */
  private readonly features = new BoundedMap<string, { features: Set<string>; at: number }>(MAX_ENTRIES);

  constructor(
    private readonly connection: ComponentConnection,
    private readonly log: Logger,
  ) {}

  noteResource(fullJid: string): void {
    const { bare, resource } = splitJid(fullJid);
    if (resource === undefined) return;
    this.lastResource.set(bare, fullJid);
  }

  /** Whether the user's client supports the feature; undefined when the bridge has no client to ask. */
  async supports(bareJid: string, feature: string, askingFrom: string): Promise<boolean | undefined> {
    const full = this.lastResource.get(bareJid.toLowerCase());
    if (!full) return undefined;
    const cached = this.features.get(full);
    if (cached && cached.at > Date.now() - FEATURES_TTL_MS) return cached.features.has(feature);
    let features = new Set<string>();
    try {
      const result = await this.connection.request(xml("iq", { type: "get", to: full, from: askingFrom, id: `caps-${Date.now().toString(36)}` }, xml("query", { xmlns: NS.discoInfo })), 5000);
      features = new Set(result.getChild("query", NS.discoInfo)?.getChildren("feature").map((f) => f.attrs.var ?? "") ?? []);
    } catch (err) {
      // A client that does not answer disco#info advertises nothing.
      this.log.debug({ jid: full, err }, "no disco#info from the client");
    }
    this.features.set(full, { features, at: Date.now() });
    return features.has(feature);
  }
}
