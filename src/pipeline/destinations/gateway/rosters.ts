import { createHash } from "node:crypto";
import type { Element } from "@xmpp/xml";
import type { BridgeConfig } from "../../../config/schema.js";
import { BoundedMap } from "../../../core/bounded-map.js";
import { occupantStanding, uniqueNicks, type PowerLevels } from "../../../core/gateway.js";
import { ghostUserId, splitJid, type AddressingConfig } from "../../../core/identity.js";
import type { Link } from "../../../core/model.js";
import type { Logger } from "../../../log.js";
import type { MatrixRooms } from "../../../matrix/rooms.js";
import type { BridgeStore } from "../../../store/store.js";
import type { ComponentConnection } from "../../../xmpp/component-connection.js";
import { renderOccupantPresence } from "../../../xmpp/gateway-stanzas.js";
import { deliver } from "../../errors.js";
import type { Ghosts } from "../ghosts.js";

/**
 * Gateway rooms: Matrix rooms offered to XMPP users as MUCs on the component domain (XEP-0045, the
 * bridge acting as the MUC service). An XMPP user's resources are occupants; their ghost is the Matrix
 * member. This folder: XMPP users coming and going (occupants.ts), Matrix members' changes told to the
 * occupants (members.ts), where Matrix members' doings go and an occupant's own messages coming back
 * (destination.ts), what else the room answers (services.ts), and what they share: the rosters.
 */

export type GatewayLink = Extract<Link, { kind: "gateway" }>;

/** Gateway rooms whose members are kept in memory; the least recently used are read again when needed. */
const MAX_ROSTERS = 1_000;

/** The Matrix members of a gateway room as its occupants: each one's nick, and the power levels that make their standing. */
export interface Roster {
  nicks: Map<string, string>;
  levels: PowerLevels;
}

export type Refusal = { type: "cancel" | "auth"; condition: string; text: string };

export interface GatewayDeps {
  store: BridgeStore;
  rooms: MatrixRooms;
  connection: ComponentConnection;
  ghosts: Ghosts;
  addressing: AddressingConfig;
  settings: BridgeConfig["gateway"];
  messageMapSeconds: number;
  log: Logger;
}

/** What every part of the gateway works with: its dependencies and the rosters they share. */
export interface GatewayParts extends GatewayDeps {
  rosters: GatewayRosters;
}

/** XEP-0421: one stable, opaque id per Matrix user in a room, the same for every occupant who asks. */
const occupantIdOf = (room: string, userId: string): string => createHash("sha256").update(`${room}\n${userId}`).digest("base64url").slice(0, 22);

/** Who is in each gateway room, as its occupants see them, and how that is told to them. */
export class GatewayRosters {
  private readonly rosters = new BoundedMap<string, Roster>(MAX_ROSTERS);
  /** Ghosts on their way into a room ("room\nghost"): their member events coming back from Matrix meanwhile are no news. */
  readonly entering = new Set<string>();

  constructor(private readonly deps: Pick<GatewayDeps, "rooms" | "connection" | "addressing">) {}

  get(room: string): Roster | undefined {
    return this.rosters.get(room);
  }

  set(room: string, roster: Roster): void {
    this.rosters.set(room, roster);
  }

  /** The room's roster, read from Matrix as an occupant's ghost when it is not in memory. */
  async load(link: GatewayLink, occupants: ReadonlyMap<string, string>): Promise<Roster | undefined> {
    const known = this.rosters.get(link.muc);
    if (known) return known;
    const viewer = [...occupants.keys()].map((o) => ghostUserId(splitJid(o).bare, this.deps.addressing))[0];
    if (!viewer) return undefined;
    const view = await deliver("room members", () => this.deps.rooms.roomView(link.roomId, viewer));
    const roster: Roster = { nicks: uniqueNicks(view.members), levels: view.levels };
    // Occupants keep the nick they chose.
    for (const [occupant, nick] of occupants) roster.nicks.set(ghostUserId(splitJid(occupant).bare, this.deps.addressing), nick);
    this.rosters.set(link.muc, roster);
    return roster;
  }

  /** Reads the room's members again when they are not in memory (after a restart, or when evicted). */
  async prepare(link: GatewayLink, occupants: () => Promise<ReadonlyMap<string, string>>): Promise<void> {
    if (!this.rosters.has(link.muc)) await this.load(link, await occupants());
  }

  /** A member's presence in the room as `to` is told it: their nick, standing and occupant-id, with status codes. */
  presenceOf(room: string, roster: Roster, userId: string, nick: string, to: string, statuses: number[] = [], extra: { unavailable?: boolean; newNick?: string } = {}): Element {
    return renderOccupantPresence({ from: `${room}/${nick}`, to, ...occupantStanding(userId, roster.levels), occupantId: occupantIdOf(room, userId), statuses, ...extra });
  }

  /** Sends what the room says to an occupant; a connection that is down makes the entry wait. */
  send(stanza: Element): Promise<void> {
    return deliver("gateway stanza", () => this.deps.connection.send(stanza));
  }
}
