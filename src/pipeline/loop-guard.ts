import { BoundedMap } from "../core/bounded-map.js";
import { loopOf, type Trail } from "../core/trail.js";
import type { Logger } from "../log.js";
import type { MatrixDestination } from "./destinations/matrix-destination.js";
import type { XmppDestination } from "./destinations/xmpp-destination.js";

/** Matrix users seen standing in for another bridge's users, remembered at most (per room). */
const STAND_INS = 10_000;

/** What of a Matrix event the guard reads: who it is about (a member event's target, else its sender) and its trail. */
export interface GuardedMatrixEvent {
  kind: string;
  roomId: string;
  eventId: string;
  sender: string;
  target?: string;
  trail?: Trail;
}

/**
 * Keeps messages from going round between two bridges: one that a bridge of this kind brought over
 * is not taken back to where it was written, nor through this bridge again, nor past MAX_BRIDGES
 * (core/trail.ts). It takes such an event (true), so no capability sees it. The same holds for the
 * members another bridge's ghosts are: their joins carry a trail, and their later member events (a
 * new name, which the homeserver writes without it) are known by the user, so no puppet stands in
 * for them, which would make the other bridge a ghost of that puppet, and so on.
 */
export class LoopGuard {
  /** room and user -> the trail their member event carried. */
  private readonly standIns = new BoundedMap<string, Trail>(STAND_INS);

  /** `self`: this bridge in a trail, its component domain. */
  constructor(private readonly deps: { self: string; isOwnMatrixUser: (userId: string) => boolean; log: Logger }) {}

  async fromMatrix(event: GuardedMatrixEvent, { link }: XmppDestination): Promise<boolean> {
    const { kind, roomId, eventId, sender } = event;
    // What this bridge's own users wrote goes out only where it is meant to (a gateway room's occupants): it is no echo.
    if (this.deps.isOwnMatrixUser(sender)) return false;
    const user = kind === "membership" && event.target !== undefined ? event.target : sender;
    const key = `${roomId}\n${user}`;
    if (event.trail && user === sender && kind === "membership") this.standIns.set(key, event.trail);
    const trail = event.trail ?? this.standIns.get(key);
    return this.refuses(trail, link.kind === "dm" ? link.xmppUser : link.muc, { kind, roomId, eventId, sender });
  }

  async fromXmpp({ message }: { message: { trail?: Trail; ids: object } }, { roomId, conversation }: MatrixDestination): Promise<boolean> {
    return this.refuses(message.trail, roomId, { conversation, ...message.ids });
  }

  private refuses(trail: Trail | undefined, destination: string, which: Record<string, unknown>): boolean {
    const reason = loopOf(trail, destination, this.deps.self);
    if (reason === undefined) return false;
    this.deps.log.info({ ...which, origin: trail?.origin, bridges: trail?.bridges, reason }, "not bridged: a bridge brought it over, and it would go round");
    return true;
  }
}
