import { mucOfPortalAlias, type AddressingConfig } from "../core/identity.js";
import type { Logger } from "../log.js";
import type { MatrixRooms } from "../matrix/rooms.js";
import type { BridgeStore } from "../store/store.js";
import type { MucDescription } from "../xmpp/muc-directory.js";

/**
 * Portal rooms: a Matrix user asks for #_xmpp_room=40service:hs, the bridge checks that the MUC
 * exists and creates the room under that alias, linked to the MUC.
 */
export class Portals {
  private readonly inFlight = new Map<string, Promise<boolean>>();

  constructor(
    private readonly store: BridgeStore,
    private readonly rooms: MatrixRooms,
    private readonly describeMuc: (muc: string) => Promise<MucDescription | undefined>,
    private readonly addressing: AddressingConfig,
    /** Brings the rest of the MUC's profile (its avatar) to the new room, later. */
    private readonly onCreated: (muc: string) => Promise<void>,
    private readonly log: Logger,
  ) {}

  /** Answers the homeserver's alias query: true when the room exists now. */
  onAliasQuery(alias: string): Promise<boolean> {
    const pending = this.inFlight.get(alias);
    if (pending) return pending;
    const created = this.create(alias).finally(() => this.inFlight.delete(alias));
    this.inFlight.set(alias, created);
    return created;
  }

  private async create(alias: string): Promise<boolean> {
    const muc = mucOfPortalAlias(alias, this.addressing);
    if (!muc) return false;
    if (await this.store.linkByMuc(muc)) {
      this.log.info({ alias, muc }, "MUC already has a portal; this alias form is not its address");
      return false;
    }
    const description = await this.describeMuc(muc);
    if (!description) return false;
    const localpart = alias.slice(1, alias.indexOf(":"));
    const roomId = await this.rooms.createPortalRoom(localpart, description.name, undefined, { remoteId: muc, remoteName: description.name });
    await this.store.saveLink({ kind: "portal", roomId, muc });
    this.log.info({ alias, muc, roomId }, "created a portal room");
    await this.onCreated(muc).catch((err: Error) => this.log.warn({ muc, err }, "the MUC's avatar will reach the room only when it changes"));
    return true;
  }
}
