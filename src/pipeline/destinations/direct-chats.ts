import type { Logger } from "../../log.js";
import type { MatrixRooms } from "../../matrix/rooms.js";
import type { BridgeStore } from "../../store/store.js";
import { deliver } from "../errors.js";

/** The Matrix room of each pair of a Matrix user and an XMPP user, opened from either side. */
export class DirectChats {
  constructor(private readonly deps: { store: BridgeStore; rooms: MatrixRooms; log: Logger }) {}

  /** A Matrix user invited a ghost: the ghost accepts, and the room becomes their DM. */
  async acceptInvite(roomId: string, matrixUser: string, ghost: string, xmppUser: string): Promise<void> {
    await deliver("ghost accepts invite", () => this.deps.rooms.ensureJoined(ghost, roomId));
    const previous = await this.deps.store.dmLink(matrixUser, xmppUser);
    if (previous && previous.roomId !== roomId) await this.deps.store.removeLink(previous);
    await this.deps.store.saveLink({ kind: "dm", roomId, matrixUser, xmppUser });
    this.deps.log.info({ roomId, matrixUser, xmppUser }, "a Matrix user opened a direct chat with an XMPP user");
  }

  /**
   * The DM room of this pair. Checked on every message, so that a user who left is invited back and
   * never misses one; a new room is opened if the ghost is no longer in the old one or the user is banned.
   */
  async roomFor(ghost: string, xmppUser: string, matrixUser: string): Promise<string> {
    const { store, rooms, log } = this.deps;
    const link = await store.dmLink(matrixUser, xmppUser);
    if (link) {
      const [ghostIn, userIn] = await Promise.all([rooms.membership(link.roomId, ghost, ghost), rooms.membership(link.roomId, matrixUser, ghost)]);
      if (ghostIn === "join" && userIn !== "ban") {
        if (userIn !== "join" && userIn !== "invite") {
          log.info({ roomId: link.roomId, matrixUser }, "inviting the Matrix user back into the DM");
          await rooms.invite(ghost, link.roomId, matrixUser);
        }
        return link.roomId;
      }
      await store.removeLink(link);
    }
    const roomId = await rooms.createDirectRoom(ghost, matrixUser, { remoteId: xmppUser });
    await store.saveLink({ kind: "dm", roomId, matrixUser, xmppUser });
    log.info({ roomId, matrixUser, xmppUser }, "opened a direct room");
    return roomId;
  }
}
