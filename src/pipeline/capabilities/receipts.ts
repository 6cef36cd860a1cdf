import { isGhost } from "../../core/identity.js";
import type { MatrixInboundOf } from "../../core/model.js";
import { puppetAddress } from "../../xmpp/puppet-address.js";
import { renderSignal } from "../../xmpp/stanzas.js";
import { deliver } from "../errors.js";
import type { MatrixDestination } from "../matrix-destination.js";
import type { CapabilityDeps } from "./capability.js";

/**
 * Read markers both ways: Matrix's public read receipts (m.read; m.read.private stays private) and
 * XEP-0333 displayed markers, on messages that came from the other side. Puppets never join a MUC just
 * to mark.
 */
export class Receipts {
  constructor(private readonly deps: CapabilityDeps) {}

  async fromMatrix({ roomId, reads }: MatrixInboundOf<"receipt">): Promise<void> {
    const link = await this.deps.store.linkByRoom(roomId);
    if (!link) return;
    const destination = this.deps.puppets.destination(link);
    for (const { eventId, readers } of reads) {
      const original = await this.deps.store.messageByEventId(eventId);
      const ref = original && original.sender && isGhost(original.sender, this.deps.addressing) ? destination.refOf(original.ids) : undefined;
      if (!ref) continue;
      for (const reader of readers) {
        if (isGhost(reader, this.deps.addressing) || reader === this.deps.botUserId || !this.deps.puppets.isIn(link, reader)) continue;
        const from = puppetAddress(reader, this.deps.addressing);
        await deliver("read marker", () => this.deps.connection.send(renderSignal({ from, to: destination.to, type: destination.type, id: `rd-${Date.now().toString(36)}`, displayed: ref })));
      }
    }
  }

  /** An XMPP user has read up to the message with this id: their ghost's read receipt follows, if the bridge knows it. */
  async toMatrix({ ghost, roomId, conversation }: MatrixDestination, displayed: string): Promise<void> {
    const read = await this.deps.store.eventIdForXmppId(conversation, displayed);
    if (read) await deliver("read receipt", () => this.deps.rooms.readReceipt(ghost, roomId, read));
  }
}
