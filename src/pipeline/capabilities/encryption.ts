import { ghostOfOccupant, ghostUserId, jidOfGhost } from "../../core/identity.js";
import type { MatrixInboundOf } from "../../core/model.js";
import * as notices from "../../core/notices.js";
import type { BridgeStore } from "../../store/store.js";
import { deliver } from "../errors.js";
import type { XmppDestination } from "../destinations/xmpp-destination.js";
import type { MembershipDeps } from "./membership.js";

/** What membership works with, and the store, whose links an encrypted room loses. */
export type EncryptionDeps = Pick<MembershipDeps, "rooms" | "occupancy" | "addressing" | "log"> & { store: BridgeStore };

/**
 * Encrypted Matrix rooms. The bridge holds no keys, so it cannot read them, and says so rather than
 * drop what is said there in silence: a ghost invited into one joins only to tell the room why it
 * cannot stay, and leaves with that reason; a bridged room that turns encryption on is told that it
 * is no longer bridged, and is unlinked (its puppets leave the MUC, its ghosts the room). There is
 * nothing to carry the other way.
 */
export class Encryption {
  constructor(private readonly deps: EncryptionDeps) {}

  /** A ghost invited into an encrypted room that is not bridged yet (a DM would open). True when it took the invite. */
  async invited(event: MatrixInboundOf<"membership">, destination: XmppDestination | undefined): Promise<boolean> {
    if (event.membership !== "invite" || !event.roomEncrypted || destination) return false;
    const xmppUser = jidOfGhost(event.target, this.deps.addressing);
    if (!xmppUser) return false;
    const { rooms, log } = this.deps;
    const text = notices.encryptedRoomDeclined(xmppUser);
    await deliver("ghost joins to decline", () => rooms.ensureJoined(event.target, event.roomId));
    await deliver("notice", () => rooms.send(event.target, event.roomId, { msgtype: "m.notice", body: text }, `encrypted-${event.eventId}`));
    await deliver("ghost leaves", () => rooms.leave(event.target, event.roomId, text));
    log.info({ roomId: event.roomId, inviter: event.sender, ghost: event.target }, "declined an invite into an encrypted room");
    return true;
  }

  /** A bridged room turned encryption on: it is told, and unlinked. */
  async fromMatrix({ roomId, sender }: MatrixInboundOf<"encryption">, { link }: XmppDestination): Promise<void> {
    const { rooms, store, occupancy, addressing, log } = this.deps;
    // A gateway room's occupants are its members: what they see is the gateway's business.
    if (link.kind === "gateway") return;
    if (link.kind === "dm") {
      const ghost = ghostUserId(link.xmppUser, addressing);
      const text = notices.roomNowEncrypted(link.xmppUser);
      await deliver("notice", () => rooms.send(ghost, roomId, { msgtype: "m.notice", body: text }, `encrypted-${roomId}`));
      await store.removeLink(link);
      await deliver("ghost leaves", () => rooms.leave(ghost, roomId, text));
    } else {
      const text = notices.roomNowEncrypted(link.muc);
      await deliver("notice", () => rooms.notice(roomId, text));
      const ghosts = new Set(occupancy.occupants(link.muc).map((o) => ghostOfOccupant(o, addressing)));
      await occupancy.leaveRoom(link.muc, "The Matrix room is now encrypted: the bridge cannot read it");
      await store.removeLink(link);
      for (const ghost of ghosts) await deliver("ghost leaves", () => rooms.leave(ghost, roomId, text)).catch((err: unknown) => log.warn({ roomId, ghost, err }, "a ghost could not leave the encrypted room"));
    }
    log.info({ roomId, by: sender, kind: link.kind }, "unlinked a room that turned encryption on");
  }
}
