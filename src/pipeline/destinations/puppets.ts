import { BoundedMap } from "../../core/bounded-map.js";
import { asError } from "../../core/errors.js";
import { matrixLocalpart } from "../../core/identity.js";
import type { Link } from "../../core/model.js";
import * as notices from "../../core/notices.js";
import type { Logger } from "../../log.js";
import type { MatrixRooms } from "../../matrix/rooms.js";
import { MucJoinError, type MucOccupancy } from "../../xmpp/muc-occupancy.js";
import { deliver, isPassing } from "../errors.js";
import { TransientError } from "../outbox.js";

export type MucLink = Extract<Link, { muc: string }>;

export interface PuppetsDeps {
  rooms: MatrixRooms;
  occupancy: MucOccupancy;
  log: Logger;
  now?: () => number;
}

/** Join failures that say the MUC's server is not answering, as opposed to our own link being down. */
const UNANSWERED = new Set(["remote-server-timeout", "no answer from the MUC"]);
/** How long messages wait for a MUC whose server does not answer before they are given up, with a notice. */
export const UNANSWERED_GIVE_UP_MS = 5 * 60_000;

/** Matrix users on XMPP: their puppets' place in a MUC. */
export class Puppets {
  /** muc -> when its server first left a join unanswered, in this spell of silence. */
  private readonly unansweredSince = new BoundedMap<string, number>(1_000);

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
      this.unansweredSince.delete(link.muc);
      return true;
    } catch (err) {
      // A passing failure comes wrapped for the outbox, which retries it.
      const failure = err instanceof TransientError ? err.cause : err;
      if (isPassing(err) && !(await this.givesUp(link.muc, failure, roomId))) throw err;
      const reason = failure instanceof MucJoinError ? failure.condition : asError(failure).message;
      this.deps.log.warn({ roomId, sender, muc: link.muc, reason }, "message not delivered: the puppet cannot join the MUC");
      await this.deps.rooms.notice(roomId, notices.messageNotDelivered(link.muc, reason));
      return false;
    }
  }

  /**
   * A MUC whose server does not answer is retried (the room hears once that its messages wait), but
   * not for ever: past UNANSWERED_GIVE_UP_MS, each message gets one attempt and is then given up.
   * A link of our own that is down is always waited for.
   */
  private async givesUp(muc: string, err: unknown, roomId: string): Promise<boolean> {
    if (!(err instanceof MucJoinError && UNANSWERED.has(err.condition))) return false;
    const now = (this.deps.now ?? Date.now)();
    const since = this.unansweredSince.get(muc);
    if (since === undefined) {
      this.unansweredSince.set(muc, now);
      this.deps.log.warn({ roomId, muc, reason: err.condition }, "the MUC's server does not answer; messages for it wait");
      // The message waits either way: a notice that cannot be sent is not worth losing it for.
      await this.deps.rooms.notice(roomId, notices.mucUnanswered(muc, UNANSWERED_GIVE_UP_MS)).catch((failure: unknown) => this.deps.log.warn({ roomId, err: failure }, "could not tell the room that its MUC does not answer"));
      return false;
    }
    return now - since >= UNANSWERED_GIVE_UP_MS;
  }
}
