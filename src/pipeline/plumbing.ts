import type { Link } from "../core/model.js";
import type { Logger } from "../log.js";
import type { MatrixRooms } from "../matrix/rooms.js";
import type { BridgeStore } from "../store/store.js";
import type { MucDescription } from "../xmpp/muc-directory.js";
import type { MucOccupancy } from "../xmpp/muc-occupancy.js";

/** The power level a Matrix user needs in a room to link it to a MUC or unlink it. */
export const PLUMB_POWER_LEVEL = 50;

/** Why a link or an unlink was refused; the bot and the provisioning API each say it their way. */
export type PlumbingRefusal =
  | { reason: "room-bridged" }
  | { reason: "muc-bridged"; muc: string }
  | { reason: "power-level"; needed: number; has: number }
  | { reason: "unknown-muc"; muc: string }
  | { reason: "not-bridged" };

/** A room bridged to a MUC the bridge does not own: a portal or a plumbed room. */
export type MucLink = Extract<Link, { kind: "portal" | "plumbed" }>;

export type PlumbingOutcome<T> = { done: T } | { refused: PlumbingRefusal };

export interface PlumbingDeps {
  store: BridgeStore;
  rooms: MatrixRooms;
  occupancy: MucOccupancy;
  describeMuc(muc: string): Promise<MucDescription | undefined>;
  log: Logger;
}

/** One stable order of links, for paging through them. */
const orderOf = (link: Link): string => `${link.kind} ${link.roomId}`;
const inOrder = (a: Link, b: Link): number => (orderOf(a) < orderOf(b) ? -1 : orderOf(a) > orderOf(b) ? 1 : 0);

/**
 * Plumbed rooms: an existing Matrix room linked to an existing MUC on behalf of a Matrix user with power
 * in the room, and links undone. What the bot's link, unlink and list commands and the provisioning API do.
 */
export class Plumbing {
  constructor(private readonly deps: PlumbingDeps) {}

  /** Links the room to the MUC on behalf of `by`; the linking user's puppet enters the MUC at once. */
  async link(roomId: string, muc: string, by: string): Promise<PlumbingOutcome<MucDescription>> {
    const { store, rooms, occupancy, log } = this.deps;
    if (await store.linkByRoom(roomId)) return { refused: { reason: "room-bridged" } };
    const refusal = await this.powerRefusal(roomId, by);
    if (refusal) return { refused: refusal };
    if (await store.linkByMuc(muc)) return { refused: { reason: "muc-bridged", muc } };
    const description = await this.deps.describeMuc(muc);
    if (!description) return { refused: { reason: "unknown-muc", muc } };
    await store.saveLink({ kind: "plumbed", roomId, muc });
    log.info({ roomId, muc, by }, "plumbed a room to a MUC");
    const nick = (await rooms.displayName(roomId, by)) ?? by;
    // So that the MUC's messages start flowing; the room's other members follow on their first message.
    await occupancy.join(muc, by, nick).catch((err: Error) => log.warn({ muc, err }, "puppet could not join after link"));
    return { done: description };
  }

  /**
   * Stops bridging a plumbed room or a portal on behalf of `by`, who needs the power level there unless
   * `powerChecked` (an admin naming the room); the puppets leave the MUC.
   */
  async unlink(roomId: string, by: string, powerChecked = false): Promise<PlumbingOutcome<MucLink>> {
    const { store, occupancy, log } = this.deps;
    const link = await store.linkByRoom(roomId);
    if (!link || link.kind === "dm" || link.kind === "gateway") return { refused: { reason: "not-bridged" } };
    const refusal = powerChecked ? undefined : await this.powerRefusal(roomId, by);
    if (refusal) return { refused: refusal };
    await occupancy.leaveRoom(link.muc, "Unbridged from Matrix");
    await store.removeLink(link);
    log.info({ roomId, muc: link.muc, by }, "unlinked a room");
    return { done: link };
  }

  /** The links from `offset` on, at most `limit` of them, and how many there are in all. */
  async page(offset: number, limit: number): Promise<{ links: Link[]; total: number }> {
    const links = (await this.deps.store.links()).sort(inOrder);
    return { links: links.slice(offset, offset + limit), total: links.length };
  }

  private async powerRefusal(roomId: string, userId: string): Promise<PlumbingRefusal | undefined> {
    const level = await this.deps.rooms.powerLevel(roomId, userId);
    return level >= PLUMB_POWER_LEVEL ? undefined : { reason: "power-level", needed: PLUMB_POWER_LEVEL, has: level };
  }
}
