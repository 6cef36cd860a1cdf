import { isGhost, type AddressingConfig } from "../core/identity.js";
import type { MatrixEvent } from "../matrix/appservice-api.js";
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

  /** True for the events this handles. */
  async handle(event: MatrixEvent): Promise<boolean> {
    if (event.type === "m.typing") await this.typing(event);
    else if (event.type === "m.receipt") await this.receipts(event);
    else return false;
    return true;
  }

  private isBridgeUser(userId: string): boolean {
    return isGhost(userId, this.addressing) || userId === this.botUserId;
  }

  private async typing(event: MatrixEvent): Promise<void> {
    const roomId = event.room_id;
    const userIds = event.content?.user_ids;
    if (!roomId || !Array.isArray(userIds)) return;
    const link = await this.store.linkByRoom(roomId);
    if (!link) return;
    const now = new Set(userIds.filter((u): u is string => typeof u === "string" && !this.isBridgeUser(u)));
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
  private async receipts(event: MatrixEvent): Promise<void> {
    const roomId = event.room_id;
    const link = roomId ? await this.store.linkByRoom(roomId) : undefined;
    if (!roomId || !link) return;
    const target = destinationOf(link, this.addressing, this.botUserId);
    for (const [eventId, receipt] of Object.entries(event.content ?? {})) {
      // m.read.private stays private: only m.read is bridged.
      const readers = Object.keys(((receipt as Record<string, unknown>)["m.read"] ?? {}) as Record<string, unknown>);
      const original = readers.length > 0 ? await this.store.messageByEventId(eventId) : undefined;
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
