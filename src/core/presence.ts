/**
 * Presence in the protocol-neutral model, and its mapping to each side. XMPP (RFC 6121 §4.7.2) says
 * more than Matrix, so the model keeps XMPP's distinctions and Matrix's side folds them:
 *
 *   model    XMPP                       Matrix (m.presence)
 *   chat     <show>chat</show>          online
 *   online   available, no <show>       online
 *   dnd      <show>dnd</show>           unavailable (from Matrix: org.matrix.msc3026.busy)
 *   away     <show>away</show>          unavailable (from Matrix: unavailable)
 *   xa       <show>xa</show>            unavailable
 *   offline  type="unavailable"         offline
 *
 * The status text (<status/> ↔ status_msg) goes along both ways. Pure: no I/O.
 */
import { BoundedMap } from "./bounded-map.js";

export type Availability = "chat" | "online" | "dnd" | "away" | "xa" | "offline";

export interface UserPresence {
  availability: Availability;
  /** Free text the user set ("At lunch"). */
  status?: string;
}

/**
 * Which of a user's states says the most about reaching them. dnd ranks above away because it is
 * set by a person at that device, as Synapse ranks busy above online.
 */
const RANK: Record<Availability, number> = { chat: 5, online: 4, dnd: 3, away: 2, xa: 1, offline: 0 };

export const samePresence = (a: UserPresence | undefined, b: UserPresence | undefined): boolean =>
  a?.availability === b?.availability && a?.status === b?.status;

const withStatus = (availability: Availability, status: unknown): UserPresence =>
  typeof status === "string" && status.trim() !== "" ? { availability, status } : { availability };

// ---------------------------------------------------------------------------------------------
// Matrix: m.presence content (client-server API, Presence module).

/** MSC3026's busy state; only homeservers with it enabled accept it, so the bridge only reads it. */
const MATRIX_BUSY = "org.matrix.msc3026.busy";

export type MatrixPresenceState = "online" | "unavailable" | "offline";

export interface MatrixPresence {
  presence: MatrixPresenceState;
  status_msg?: string;
}

const FROM_MATRIX: Record<string, Availability> = { online: "online", unavailable: "away", offline: "offline", [MATRIX_BUSY]: "dnd" };

/** The presence an m.presence content (or GET …/presence/{userId}/status answer) gives; undefined if malformed. */
export function fromMatrixPresence(content: unknown): UserPresence | undefined {
  if (typeof content !== "object" || content === null) return undefined;
  const { presence, status_msg: status } = content as { presence?: unknown; status_msg?: unknown };
  const availability = typeof presence === "string" ? FROM_MATRIX[presence] : undefined;
  return availability ? withStatus(availability, status) : undefined;
}

export function toMatrixPresence(p: UserPresence): MatrixPresence {
  const presence: MatrixPresenceState = p.availability === "offline" ? "offline" : RANK[p.availability] >= RANK.online ? "online" : "unavailable";
  return p.status ? { presence, status_msg: p.status } : { presence };
}

// ---------------------------------------------------------------------------------------------
// XMPP: the type, <show/> and <status/> of a presence stanza.

export type XmppShow = "chat" | "dnd" | "away" | "xa";

export interface XmppPresence {
  unavailable: boolean;
  show?: XmppShow;
  status?: string;
}

const SHOWS: readonly string[] = ["chat", "dnd", "away", "xa"];

/** RFC 6121 §4.7.2.1: a missing or unknown <show/> means plainly available. */
export function fromXmppPresence(p: { unavailable: boolean; show?: string; status?: string }): UserPresence {
  if (p.unavailable) return withStatus("offline", p.status);
  const show = p.show?.trim();
  return withStatus(show !== undefined && SHOWS.includes(show) ? (show as XmppShow) : "online", p.status);
}

export function toXmppPresence(p: UserPresence): XmppPresence {
  const status = p.status ? { status: p.status } : {};
  if (p.availability === "offline") return { unavailable: true, ...status };
  return p.availability === "online" ? { unavailable: false, ...status } : { unavailable: false, show: p.availability, ...status };
}

// ---------------------------------------------------------------------------------------------
// Several resources of one XMPP user.

/** RFC 6121 §4.7.2.3: an integer from -128 to 127, 0 when absent or invalid. */
export function parsePriority(text: string | undefined | null): number {
  const trimmed = (text ?? "").trim();
  const value = Number(trimmed);
  return trimmed !== "" && Number.isInteger(value) && value >= -128 && value <= 127 ? value : 0;
}

interface ResourceState {
  presence: UserPresence;
  priority: number;
  /** Order of arrival: among equals, the latest news wins. */
  seq: number;
}

interface UserState {
  resources: Map<string, ResourceState>;
  /** What the user's presence was last reported as. */
  standing: UserPresence;
}

/**
 * The presence each XMPP user's resources announced, and the one that stands for the user: the
 * resource with the highest priority, then the most available, then the latest. Bounded: the users
 * heard from least recently are forgotten first.
 */
export class ContactPresences {
  /** Keyed by anything that names one user (a bare JID, or their ghost). */
  private readonly users: BoundedMap<string, UserState>;
  private seq = 0;

  constructor(maxUsers: number) {
    this.users = new BoundedMap(maxUsers);
  }

  /**
   * Takes a resource's presence (offline: the resource left; with no resource, all of them did) and
   * returns the user's presence when that changed it, else undefined.
   */
  update(user: string, resource: string | undefined, presence: UserPresence, priority = 0): UserPresence | undefined {
    const state = this.users.get(user) ?? { resources: new Map<string, ResourceState>(), standing: { availability: "offline" } };
    this.users.set(user, state);

    if (presence.availability !== "offline") state.resources.set(resource ?? "", { presence, priority, seq: ++this.seq });
    else if (resource === undefined) state.resources.clear();
    else state.resources.delete(resource);

    const best = [...state.resources.values()].reduce<ResourceState | undefined>((a, b) => (a === undefined || outranks(b, a) ? b : a), undefined);
    // With no resource left, this was the last one leaving, and its status ("Gone home") stays the user's.
    const standing = best?.presence ?? presence;
    if (samePresence(standing, state.standing)) return undefined;
    state.standing = standing;
    return standing;
  }

  forgetAll(): void {
    this.users.clear();
  }

  /** The users whose standing presence is not offline, as last reported. */
  *available(): IterableIterator<[string, UserPresence]> {
    for (const [user, state] of this.users) if (state.standing.availability !== "offline") yield [user, state.standing];
  }
}

function outranks(a: ResourceState, b: ResourceState): boolean {
  if (a.priority !== b.priority) return a.priority > b.priority;
  const ra = RANK[a.presence.availability];
  const rb = RANK[b.presence.availability];
  return ra !== rb ? ra > rb : a.seq > b.seq;
}

/** Presence stanzas about a subscription (RFC 6121 §3), and probes (§4.3). */
export type SubscriptionType = "subscribe" | "subscribed" | "unsubscribe" | "unsubscribed" | "probe";
