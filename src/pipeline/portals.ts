import { ghostOfOccupant, mucOfPortalAlias, portalAlias, type AddressingConfig } from "../core/identity.js";
import type { XmppEventOf } from "../core/model.js";
import * as notices from "../core/notices.js";
import type { Logger } from "../log.js";
import type { MatrixRooms } from "../matrix/rooms.js";
import type { BridgeStore } from "../store/store.js";
import type { MucDescription } from "../xmpp/muc-directory.js";
import type { MucOccupancy } from "../xmpp/muc-occupancy.js";
import type { MatrixDestination } from "./destinations/matrix-destination.js";
import { deliver } from "./errors.js";

export interface PortalsDeps {
  store: BridgeStore;
  rooms: MatrixRooms;
  describeMuc: (muc: string) => Promise<MucDescription | undefined>;
  occupancy: MucOccupancy;
  addressing: AddressingConfig;
  /** Brings the rest of the MUC's profile (its avatar) to the new room, later. */
  onCreated: (muc: string) => Promise<void>;
  log: Logger;
}

/**
 * Portal rooms: a Matrix user asks for #_xmpp_room=40service:hs, the bridge checks that the MUC
 * exists and creates the room under that alias, linked to the MUC.
 */
export class Portals {
  private readonly inFlight = new Map<string, Promise<boolean>>();

  constructor(private readonly deps: PortalsDeps) {}

  /** Answers the homeserver's alias query: true when the room exists now. */
  onAliasQuery(alias: string): Promise<boolean> {
    const pending = this.inFlight.get(alias);
    if (pending) return pending;
    const created = this.create(alias).finally(() => this.inFlight.delete(alias));
    this.inFlight.set(alias, created);
    return created;
  }

  /**
   * The MUC of a portal or plumbed room was destroyed: the room is unlinked and told why, and where
   * the conversation went when the MUC named another room (with the alias that opens its portal).
   */
  async destroyed({ muc, alternate, reason }: XmppEventOf<"room-destroyed">, { link, roomId }: MatrixDestination): Promise<void> {
    if (link.kind !== "portal" && link.kind !== "plumbed") return;
    const { store, rooms, occupancy, addressing, log } = this.deps;
    const ghosts = new Set(occupancy.occupants(muc).map((o) => ghostOfOccupant(o, addressing)));
    await occupancy.forgetRoom(muc);
    await store.removeLink(link);
    let alias: string | undefined;
    try {
      alias = alternate ? portalAlias(alternate, addressing) : undefined;
    } catch {
      alias = undefined; // an address no portal can have: named, not offered
    }
    await deliver("notice", () => rooms.notice(roomId, notices.mucDestroyed(muc, reason, alternate ? { muc: alternate, ...(alias ? { alias } : {}) } : undefined)));
    for (const ghost of ghosts) await deliver("ghost leave", () => rooms.leave(ghost, roomId)).catch((err: unknown) => log.warn({ roomId, ghost, err }, "a ghost could not leave the room of a destroyed MUC"));
    log.info({ roomId, muc, alternate, kind: link.kind }, "unlinked a room whose MUC was destroyed");
  }

  private async create(alias: string): Promise<boolean> {
    const muc = mucOfPortalAlias(alias, this.deps.addressing);
    if (!muc) return false;
    if (await this.deps.store.linkByMuc(muc)) {
      this.deps.log.info({ alias, muc }, "MUC already has a portal; this alias form is not its address");
      return false;
    }
    const description = await this.deps.describeMuc(muc);
    if (!description) return false;
    const localpart = alias.slice(1, alias.indexOf(":"));
    const roomId = await this.deps.rooms.createPortalRoom(localpart, description.name, undefined, { remoteId: muc, remoteName: description.name });
    await this.deps.store.saveLink({ kind: "portal", roomId, muc });
    this.deps.log.info({ alias, muc, roomId }, "created a portal room");
    await this.deps.onCreated(muc).catch((err: Error) => this.deps.log.warn({ muc, err }, "the MUC's avatar will reach the room only when it changes"));
    return true;
  }
}
