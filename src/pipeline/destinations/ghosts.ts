import { jidLocalpart } from "../../core/identity.js";
import { onward } from "../../core/trail.js";
import type { MatrixRooms } from "../../matrix/rooms.js";
import { deliver } from "../errors.js";

/** Names a ghost the first time it is seen, from its XMPP user's profile (else `fallbackName`). */
export type FirstSight = (ghost: string, xmppUser: string, fallbackName: string) => Promise<void>;

/** XMPP users on Matrix: their ghosts' names and their place in a room. */
export class Ghosts {
  /** `self`: this bridge in a trail (core/trail.ts), its component domain. */
  constructor(private readonly deps: { rooms: MatrixRooms; firstSight: FirstSight; self: string }) {}

  /** A contact's ghost exists, named by the name its message gave (XEP-0172), else by its profile. */
  async introduce(ghost: string, xmppUser: string, senderName: string | undefined): Promise<void> {
    await deliver("ghost profile", () => (senderName ? this.deps.rooms.ensureGhost(ghost, senderName) : this.deps.firstSight(ghost, xmppUser, jidLocalpart(xmppUser))));
  }

  /**
   * An occupant's ghost is in the room: the ghost of a hidden occupant is named by the nick; the
   * ghost of a real JID keeps its own name (profile, else localpart), the nick naming it in this room only.
   * Its join says which MUC it stands in from, for other bridges of this kind (core/trail.ts).
   */
  async enter(ghost: string, roomId: string, occupant: { muc: string; nick: string; realJid?: string }): Promise<void> {
    const { nick, realJid } = occupant;
    await deliver("ghost profile", () => (realJid ? this.deps.firstSight(ghost, realJid, jidLocalpart(realJid)) : this.deps.rooms.ensureGhost(ghost, nick)));
    await deliver("ghost join", () => this.deps.rooms.ensureJoined(ghost, roomId, onward(undefined, occupant.muc, this.deps.self)));
  }
}
