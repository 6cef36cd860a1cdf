/**
 * The trail a bridged message carries: where it was first written, and the bridges of this kind it
 * crossed, in order. Each side writes it where its protocol allows extensions (an element in our own
 * namespace on the stanza, a namespaced key in the event's content), so that a message a bridge
 * brought over is never brought back where it came from by another one: two bridges linking the same
 * room and MUC would otherwise echo it between them for ever.
 */
export interface Trail {
  /** The conversation the message was first written in: a Matrix room ID or a bare JID (a MUC, an XMPP user). */
  origin: string;
  /** The bridges it crossed, each by its component domain, the first one first. */
  bridges: string[];
}

/** A message that crossed this many bridges crosses no more, whatever the path (a cycle that misses its origin). */
export const MAX_BRIDGES = 3;

/** At most this many bridges are read from a trail: no more are ever needed, and a longer list is hostile. */
const READ_AT_MOST = MAX_BRIDGES + 1;

/** The trail a message carries on, out of this bridge: the one it came with, or a new one from where it was written. */
export function onward(trail: Trail | undefined, source: string, self: string): Trail {
  return trail ? { origin: trail.origin, bridges: [...trail.bridges, self] } : { origin: source, bridges: [self] };
}

/** Why a message with this trail must not cross this bridge to `destination`; undefined when it may. */
export function loopOf(trail: Trail | undefined, destination: string, self: string): string | undefined {
  if (!trail) return undefined;
  if (trail.origin === destination) return "it was written there";
  if (trail.bridges.includes(self)) return "it crossed this bridge already";
  if (trail.bridges.length >= MAX_BRIDGES) return `it crossed ${trail.bridges.length} bridges already`;
  return undefined;
}

/** A trail from what either side read (untrusted): undefined unless it has an origin and at least one bridge. */
export function trailOf(origin: unknown, bridges: readonly unknown[]): Trail | undefined {
  const named = bridges.slice(0, READ_AT_MOST).filter((b): b is string => typeof b === "string" && b !== "");
  return typeof origin === "string" && origin !== "" && named.length > 0 ? { origin, bridges: named } : undefined;
}
