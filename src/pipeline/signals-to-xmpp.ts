import { isGhost, type AddressingConfig } from "../core/identity.js";
import type { MatrixInboundOf } from "../core/model.js";
import type { BridgeStore } from "../store/store.js";
import type { ComponentLink } from "../xmpp/component-link.js";
import type { MucOccupancy } from "../xmpp/muc-occupancy.js";
import { puppetAddress } from "../xmpp/puppet-address.js";
import { renderSignal } from "../xmpp/stanzas.js";
import { deliver } from "./errors.js";
import { destinationOf } from "./xmpp-destination.js";

/**
 * Matrix's ephemeral events, to XMPP: typing (XEP-0085 chat states) and public read receipts
 * (XEP-0333 displayed markers). Puppets never join a MUC just to type or mark.
 */
export class SignalsToXmpp {
  /** Who is typing in each room, as last reported: the next report tells who started and who stopped. */
  private readonly typists = new Map<string, Set<string>>();

  constructor(
    private readonly store: BridgeStore,
    private readonly link: ComponentLink,
    private readonly occupancy: MucOccupancy,
    private readonly addressing: AddressingConfig,
    private readonly botUserId: string,
  ) {}

  private isBridgeUser(userId: string): boolean {
    return isGhost(userId, this.addressing) || userId === this.botUserId;
  }

  async typing(event: MatrixInboundOf<"typing">): Promise<void> {
    const { roomId } = event;
    const link = await this.store.linkByRoom(roomId);
    if (!link) return;
    const now = new Set(event.userIds.filter((u) => !this.isBridgeUser(u)));
    const before = this.typists.get(roomId) ?? new Set<string>();
    if (now.size > 0) this.typists.set(roomId, now);
    else this.typists.delete(roomId);
    const target = destinationOf(link, this.addressing, this.botUserId);
    const changes = [...[...now].filter((u) => !before.has(u)).map((u) => [u, "composing"] as const), ...[...before].filter((u) => !now.has(u)).map((u) => [u, "paused"] as const)];
    for (const [user, chatState] of changes) {
      // Typing alone never makes a puppet join a MUC.
      if (link.kind !== "dm" && this.occupancy.nickOf(link.muc, user) === undefined) continue;
      const from = puppetAddress(user, this.addressing);
      await deliver("chat state", () => this.link.send(renderSignal({ from, to: target.to, type: target.type, id: `cs-${Date.now().toString(36)}`, chatState })));
    }
  }

  /** Public read receipts of Matrix users on messages from XMPP become XEP-0333 displayed markers. */
  async receipts(event: MatrixInboundOf<"receipt">): Promise<void> {
    const link = await this.store.linkByRoom(event.roomId);
    if (!link) return;
    const target = destinationOf(link, this.addressing, this.botUserId);
    for (const { eventId, readers } of event.reads) {
      const original = await this.store.messageByEventId(eventId);
      const ref = original && original.sender && isGhost(original.sender, this.addressing) ? target.refOf(original.ids) : undefined;
      if (!ref) continue;
      for (const reader of readers) {
        if (this.isBridgeUser(reader)) continue;
        if (link.kind !== "dm" && this.occupancy.nickOf(link.muc, reader) === undefined) continue;
        const from = puppetAddress(reader, this.addressing);
        await deliver("read marker", () => this.link.send(renderSignal({ from, to: target.to, type: target.type, id: `rd-${Date.now().toString(36)}`, displayed: ref })));
      }
    }
  }
}
