import { isGhost } from "../../core/identity.js";
import type { MatrixInboundOf, XmppEventOf } from "../../core/model.js";
import { deliver } from "../errors.js";
import type { GhostDestination, MatrixDestination } from "../destinations/matrix-destination.js";
import type { XmppDestination } from "../destinations/xmpp-destination.js";
import type { CapabilityDeps } from "./capability.js";

/**
 * Read markers both ways: Matrix's public read receipts (m.read; m.read.private stays private) and
 * XEP-0333 displayed markers, on messages that came from the other side. Puppets never join a MUC just
 * to mark.
 */
export class Receipts {
  constructor(private readonly deps: CapabilityDeps) {}

  async fromMatrix({ reads }: MatrixInboundOf<"receipt">, destination: XmppDestination): Promise<void> {
    for (const { eventId, readers } of reads) {
      const original = await this.deps.store.messageByEventId(eventId);
      const ref = original && original.sender && isGhost(original.sender, this.deps.addressing) ? destination.refOf(original.ids) : undefined;
      if (!ref) continue;
      for (const reader of readers) {
        if (isGhost(reader, this.deps.addressing) || reader === this.deps.botUserId || !destination.isIn(reader)) continue;
        await destination.signal(reader, { id: `rd-${Date.now().toString(36)}`, displayed: ref }, "read marker");
      }
    }
  }

  /** An XMPP message's read marker, if it carries one; the message goes on to the other capabilities. */
  async fromXmpp({ message }: XmppEventOf<"message">, { roomId, conversation, ghost }: MatrixDestination): Promise<boolean> {
    if (message.displayed && ghost) await this.toMatrix({ ghost, roomId, conversation }, message.displayed);
    return false;
  }

  /** An XMPP user has read up to the message with this id: their ghost's read receipt follows, if the bridge knows it. */
  async toMatrix({ ghost, roomId, conversation }: GhostDestination, displayed: string): Promise<void> {
    const read = await this.deps.store.eventIdForXmppId(conversation, displayed);
    if (read) await deliver("read receipt", () => this.deps.rooms.readReceipt(ghost, roomId, read));
  }
}
