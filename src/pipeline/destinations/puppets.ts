import { asError } from "../../core/errors.js";
import { matrixLocalpart } from "../../core/identity.js";
import type { Link } from "../../core/model.js";
import * as notices from "../../core/notices.js";
import type { Logger } from "../../log.js";
import type { MatrixRooms } from "../../matrix/rooms.js";
import { MucJoinError, type MucOccupancy } from "../../xmpp/muc-occupancy.js";
import { deliver, isPassing } from "../errors.js";

export type MucLink = Extract<Link, { muc: string }>;

export interface PuppetsDeps {
  rooms: MatrixRooms;
  occupancy: MucOccupancy;
  log: Logger;
}

/** Matrix users on XMPP: their puppets' place in a MUC. */
export class Puppets {
  constructor(private readonly deps: PuppetsDeps) {}

  /** The puppet joins the MUC under the user's display name in the room (else their localpart); its nick. */
  async join(link: MucLink, matrixUser: string, displayName: string | undefined, roomId: string): Promise<string> {
    const nick = displayName ?? (await this.deps.rooms.displayName(roomId, matrixUser)) ?? matrixLocalpart(matrixUser);
    return deliver("join MUC", () => this.deps.occupancy.join(link.muc, matrixUser, nick));
  }

  /** Whether the user's puppet is where the link's messages go: always in a DM, in a MUC once it joined. */
  isIn(link: Link, matrixUser: string): boolean {
    return link.kind === "dm" || this.deps.occupancy.nickOf(link.muc, matrixUser) !== undefined;
  }

  /** The puppet is in the MUC, or its user has been told why not; true when sending may go on. */
  async ready(link: Link, sender: string, roomId: string): Promise<boolean> {
    // Asked for every message: a puppet in the MUC already costs nothing (not even its display name).
    if (link.kind === "dm" || this.isIn(link, sender)) return true;
    try {
      await this.join(link, sender, undefined, roomId);
      return true;
    } catch (err) {
      if (isPassing(err)) throw err;
      const reason = err instanceof MucJoinError ? err.condition : asError(err).message;
      this.deps.log.warn({ roomId, sender, muc: link.muc, reason }, "message not delivered: the puppet cannot join the MUC");
      await this.deps.rooms.notice(roomId, notices.messageNotDelivered(link.muc, reason));
      return false;
    }
  }
}
