import { isGhost } from "../../core/identity.js";
import type { MatrixInboundOf, XmppEventOf } from "../../core/model.js";
import { deliver } from "../errors.js";
import type { GhostDestination, MatrixDestination } from "../destinations/matrix-destination.js";
import type { XmppDestination } from "../destinations/xmpp-destination.js";
import type { CapabilityDeps } from "./capability.js";

/**
 * Typing both ways: Matrix's m.typing (everyone typing in a room, each time) and XEP-0085 chat states
 * (composing, or anything else for not). Puppets never join a MUC just to type.
 */
export class Typing {
  /** Who is typing in each room, as last reported: the next report tells who started and who stopped. */
  private readonly typists = new Map<string, Set<string>>();

  constructor(private readonly deps: CapabilityDeps) {}

  async fromMatrix({ roomId, userIds }: MatrixInboundOf<"typing">, destination: XmppDestination): Promise<void> {
    // The ghosts' typing comes back too: it is the bridge's doing.
    const now = new Set(userIds.filter((u) => !isGhost(u, this.deps.addressing) && u !== this.deps.botUserId));
    const before = this.typists.get(roomId) ?? new Set<string>();
    if (now.size > 0) this.typists.set(roomId, now);
    else this.typists.delete(roomId);
    const changes = [...[...now].filter((u) => !before.has(u)).map((u) => [u, "composing"] as const), ...[...before].filter((u) => !now.has(u)).map((u) => [u, "paused"] as const)];
    for (const [user, chatState] of changes) {
      if (destination.isIn(user)) await destination.signal(user, { id: `cs-${Date.now().toString(36)}`, chatState }, "chat state");
    }
  }

  /** An XMPP message's chat state, if it carries one; the message goes on to the other capabilities. */
  async fromXmpp({ message }: XmppEventOf<"message">, { roomId, conversation, ghost }: MatrixDestination): Promise<boolean> {
    if (message.typing !== undefined && ghost) await this.toMatrix({ ghost, roomId, conversation }, message.typing, message.body !== "");
    return false;
  }

  /** An XMPP user's chat state; a message with a body ends composing by itself, so only a bare state, or a stop, is news. */
  async toMatrix({ ghost, roomId }: GhostDestination, typing: boolean, withBody: boolean): Promise<void> {
    if (withBody && typing) return;
    await deliver("typing", () => this.deps.rooms.typing(ghost, roomId, typing));
  }
}
