import { ghostUserId, jidOfGhost, mucOfPortalAlias, portalAlias, type AddressingConfig } from "../core/identity.js";
import type { Logger } from "../log.js";
import type { ThirdPartyHandlers, ThirdPartyLocation, ThirdPartyProtocol, ThirdPartyUser } from "../matrix/appservice-api.js";
import { PROTOCOL } from "../matrix/registration.js";
import type { MatrixRooms } from "../matrix/rooms.js";
import type { BridgeStore } from "../store/store.js";
import type { MucDescription } from "../xmpp/muc-directory.js";


/**
 * One field each: a MUC's or a user's bare JID. A client fills in the last of a protocol's fields and takes
 * the others from the instance (Element does so), and one instance stands for all of XMPP, whose rooms and
 * users live on any server: so there are no others.
 */
const BARE_JID = "[^@/\\s]+@[^@/\\s]+";
const PROTOCOL_METADATA: ThirdPartyProtocol = {
  user_fields: ["jid"],
  location_fields: ["muc"],
  icon: "",
  field_types: {
    jid: { regexp: BARE_JID, placeholder: "user@xmpp.example.org" },
    muc: { regexp: BARE_JID, placeholder: "room@conference.xmpp.example.org" },
  },
  instances: [{ network_id: PROTOCOL, desc: "XMPP", fields: {} }],
};

export interface ThirdPartyLookupsDeps {
  store: BridgeStore;
  rooms: MatrixRooms;
  describeMuc(muc: string): Promise<MucDescription | undefined>;
  addressing: AddressingConfig;
  log: Logger;
}

/**
 * The homeserver's third-party lookups (room directory, user search): a MUC's JID to the alias of the room
 * that leads to it, a portal alias back to its MUC, an XMPP user's JID to their ghost and back.
 */
export class ThirdPartyLookups implements ThirdPartyHandlers {
  constructor(private readonly deps: ThirdPartyLookupsDeps) {}

  protocol(protocol: string): ThirdPartyProtocol | undefined {
    return protocol === PROTOCOL ? PROTOCOL_METADATA : undefined;
  }

  /** The room a MUC is bridged to (its alias), else, when the MUC answers, the portal alias that opens it. */
  async locations(protocol: string, fields: Record<string, string>): Promise<ThirdPartyLocation[]> {
    const muc = fields.muc?.trim().toLowerCase();
    if (protocol !== PROTOCOL || !muc) return [];
    const alias = this.portalAliasOf(muc);
    if (!alias) return [];
    const link = await this.deps.store.linkByMuc(muc);
    if (link?.kind === "plumbed") {
      // A plumbed room is reached by its own alias, when it has one.
      const own = await this.deps.rooms.stateField(link.roomId, "m.room.canonical_alias", "alias");
      return own ? [this.location(own, muc)] : [];
    }
    if (link || (await this.deps.describeMuc(muc))) return [this.location(alias, muc)];
    return [];
  }

  async locationsOfAlias(alias: string): Promise<ThirdPartyLocation[]> {
    const muc = mucOfPortalAlias(alias, this.deps.addressing);
    return muc ? [this.location(alias, muc)] : [];
  }

  async users(protocol: string, fields: Record<string, string>): Promise<ThirdPartyUser[]> {
    const jid = fields.jid?.trim().toLowerCase();
    if (protocol !== PROTOCOL || !jid) return [];
    try {
      return [this.user(ghostUserId(jid, this.deps.addressing), jid)];
    } catch (err) {
      this.deps.log.info({ jid, err }, "third-party user lookup of a JID that has no ghost");
      return [];
    }
  }

  async usersOfId(userId: string): Promise<ThirdPartyUser[]> {
    const jid = jidOfGhost(userId, this.deps.addressing);
    // The ghost of an occupant whose room hides real JIDs stands for no JID anyone can write to.
    return jid && !jid.includes("/") ? [this.user(userId, jid)] : [];
  }

  private portalAliasOf(muc: string): string | undefined {
    try {
      return portalAlias(muc, this.deps.addressing);
    } catch (err) {
      this.deps.log.info({ muc, err }, "third-party location lookup of a JID that is no MUC address");
      return undefined;
    }
  }

  private location(alias: string, muc: string): ThirdPartyLocation {
    return { alias, protocol: PROTOCOL, fields: { muc } };
  }

  private user(userid: string, jid: string): ThirdPartyUser {
    return { userid, protocol: PROTOCOL, fields: { jid } };
  }
}
