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
  /** How long a MUC whose server cannot be reached is waited for before what waits for it is given up. */
  unreachableRetryMs: number;
  log: Logger;
  now?: () => number;
}

/**
 * Join failures that say the MUC's server cannot be reached (it does not answer, or its domain cannot be
 * found or connected to), as opposed to our own link being down, which is always waited for.
 */
const UNREACHABLE = new Set(["remote-server-timeout", "remote-server-not-found", "no answer from the MUC"]);

/** A MUC whose server could not be reached for longer than the bridge waits: what waited for it is given up. */
export class MucUnreachableError extends Error {
  constructor(readonly muc: string, readonly condition: string) {
    super(`${muc} cannot be reached: ${condition}`);
    this.name = "MucUnreachableError";
  }
}

/** Why a puppet could not join a MUC, as the room is told it. */
export const joinFailureReason = (err: unknown): string => (err instanceof MucJoinError || err instanceof MucUnreachableError ? err.condition : asError(err).message);

/** Matrix users on XMPP: their puppets' place in a MUC. */
export class Puppets {
  /** muc -> when its server was first found unreachable, in this spell. */
  private readonly unreachableSince = new BoundedMap<string, number>(1_000);

  constructor(private readonly deps: PuppetsDeps) {}

  /**
   * The puppet joins the MUC under the user's display name in the room (else their localpart); its nick.
   * A MUC whose server cannot be reached is retried (a passing failure: the room hears once that what is
   * for it waits), but not for ever: past `unreachableRetryMs`, each attempt fails with MucUnreachableError.
   */
  async join(link: MucLink, matrixUser: string, displayName: string | undefined, roomId: string): Promise<string> {
    const nick = displayName ?? (await this.deps.rooms.displayName(roomId, matrixUser)) ?? matrixLocalpart(matrixUser);
    try {
      const joined = await deliver("join MUC", () => this.deps.occupancy.join(link.muc, matrixUser, nick));
      this.unreachableSince.delete(link.muc);
      return joined;
    } catch (err) {
      const failure = err instanceof TransientError ? err.cause : err;
      if (failure instanceof MucJoinError && UNREACHABLE.has(failure.condition) && (await this.givesUp(link.muc, failure.condition, roomId))) {
        throw new MucUnreachableError(link.muc, failure.condition);
      }
      throw err;
    }
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
      // A passing failure comes wrapped for the outbox, which retries it.
      if (isPassing(err)) throw err;
      const reason = joinFailureReason(err);
      this.deps.log.warn({ roomId, sender, muc: link.muc, reason }, "message not delivered: the puppet cannot join the MUC");
      await this.deps.rooms.notice(roomId, notices.messageNotDelivered(link.muc, reason));
      return false;
    }
  }

  /** Whether the MUC's server has been unreachable for longer than the bridge waits; the first time, the room hears that what is for it waits. */
  private async givesUp(muc: string, condition: string, roomId: string): Promise<boolean> {
    const now = (this.deps.now ?? Date.now)();
    const since = this.unreachableSince.get(muc);
    if (since === undefined) {
      this.unreachableSince.set(muc, now);
      this.deps.log.warn({ roomId, muc, reason: condition }, "the MUC's server cannot be reached; messages for it wait");
      // The message waits either way: a notice that cannot be sent is not worth losing it for.
      await this.deps.rooms.notice(roomId, notices.mucUnreachable(muc, condition, this.deps.unreachableRetryMs)).catch((failure: unknown) => this.deps.log.warn({ roomId, err: failure }, "could not tell the room that its MUC cannot be reached"));
      return false;
    }
    return now - since >= this.deps.unreachableRetryMs;
  }
}
