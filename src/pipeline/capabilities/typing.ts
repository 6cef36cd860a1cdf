import { isGhost } from "../../core/identity.js";
import type { MatrixInboundOf } from "../../core/model.js";
import { puppetAddress } from "../../xmpp/puppet-address.js";
import { renderSignal } from "../../xmpp/stanzas.js";
import { deliver } from "../errors.js";
import type { MatrixDestination } from "../matrix-destination.js";
import type { CapabilityDeps } from "./capability.js";

/**
 * Typing both ways: Matrix's m.typing (everyone typing in a room, each time) and XEP-0085 chat states
 * (composing, or anything else for not). Puppets never join a MUC just to type.
 */
export class Typing {
  /** Who is typing in each room, as last reported: the next report tells who started and who stopped. */
  private readonly typists = new Map<string, Set<string>>();

  constructor(private readonly deps: CapabilityDeps) {}

  async fromMatrix({ roomId, userIds }: MatrixInboundOf<"typing">): Promise<void> {
    const link = await this.deps.store.linkByRoom(roomId);
    if (!link) return;
    // The ghosts' typing comes back too: it is the bridge's doing.
    const now = new Set(userIds.filter((u) => !isGhost(u, this.deps.addressing) && u !== this.deps.botUserId));
    const before = this.typists.get(roomId) ?? new Set<string>();
    if (now.size > 0) this.typists.set(roomId, now);
    else this.typists.delete(roomId);
    const destination = this.deps.puppets.destination(link);
    const changes = [...[...now].filter((u) => !before.has(u)).map((u) => [u, "composing"] as const), ...[...before].filter((u) => !now.has(u)).map((u) => [u, "paused"] as const)];
    for (const [user, chatState] of changes) {
      if (!this.deps.puppets.isIn(link, user)) continue;
      const from = puppetAddress(user, this.deps.addressing);
      await deliver("chat state", () => this.deps.connection.send(renderSignal({ from, to: destination.to, type: destination.type, id: `cs-${Date.now().toString(36)}`, chatState })));
    }
  }

  /** An XMPP user's chat state; a message with a body ends composing by itself, so only a bare state, or a stop, is news. */
  async toMatrix({ ghost, roomId }: MatrixDestination, typing: boolean, withBody: boolean): Promise<void> {
    if (withBody && typing) return;
    await deliver("typing", () => this.deps.rooms.typing(ghost, roomId, typing));
  }
}
