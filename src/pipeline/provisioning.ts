import { portalAlias, type AddressingConfig } from "../core/identity.js";
import { hasPermission, type PermissionLevel } from "../core/permissions.js";
import { ProvisioningError, type MucLookup, type ProvisioningHandlers } from "../http/provisioning-api.js";
import type { Logger } from "../log.js";
import { matrixErrorCode, type MatrixRooms } from "../matrix/rooms.js";
import type { BridgeStore } from "../store/store.js";
import type { MucDescription } from "../xmpp/muc-directory.js";
import type { BridgeStatus } from "./bridge-status.js";
import type { Plumbing, PlumbingRefusal } from "./plumbing.js";

export interface ProvisioningDeps {
  plumbing: Plumbing;
  store: BridgeStore;
  rooms: MatrixRooms;
  describeMuc(muc: string): Promise<MucDescription | undefined>;
  status(): Promise<BridgeStatus>;
  addressing: AddressingConfig;
  /** Read on each call: SIGHUP may replace them. */
  permissions(): Readonly<Record<string, PermissionLevel>>;
  botUserId: string;
  log: Logger;
}

/** Errors of the homeserver that mean the bot is not in the room and may not join it. */
const KEPT_OUT = new Set(["M_FORBIDDEN", "M_NOT_FOUND"]);

/**
 * What the provisioning API does, on behalf of a Matrix user it names: the same linking, unlinking, list
 * and status as the bot's commands, and the same permission and power level checks.
 */
export class Provisioning implements ProvisioningHandlers {
  constructor(private readonly deps: ProvisioningDeps) {}

  async link(roomId: string, muc: string, userId: string): Promise<{ name: string }> {
    this.mayUse(userId);
    // A public room, or one the bot was invited to, can be joined now; the bot must be in it to bridge it.
    await this.deps.rooms.join(this.deps.botUserId, roomId).catch((err: unknown) => this.keptOut(roomId, err));
    const outcome = await this.deps.plumbing.link(roomId, muc, userId);
    if ("refused" in outcome) throw this.refusal(outcome.refused, userId, roomId);
    return { name: outcome.done.name };
  }

  async unlink(roomId: string, userId: string): Promise<{ muc: string }> {
    this.mayUse(userId);
    const outcome = await this.deps.plumbing.unlink(roomId, userId).catch((err: unknown) => this.keptOut(roomId, err));
    if ("refused" in outcome) throw this.refusal(outcome.refused, userId, roomId);
    return { muc: outcome.done.muc };
  }

  async links(from: number, limit: number, roomId: string | undefined) {
    if (roomId === undefined) return this.deps.plumbing.page(from, limit);
    const link = await this.deps.store.linkByRoom(roomId);
    return { links: link && from === 0 ? [link] : [], total: link ? 1 : 0 };
  }

  async lookup(muc: string): Promise<MucLookup> {
    const description = await this.deps.describeMuc(muc);
    if (!description) throw new ProvisioningError("XMPP_UNKNOWN_MUC", `no MUC room answers at ${muc}`);
    const link = await this.deps.store.linkByMuc(muc);
    // A MUC bridged to a plumbed room has no portal: its alias would not open it.
    const alias = link && link.kind !== "portal" ? undefined : this.aliasOf(muc);
    return { ...description, ...(alias ? { alias } : {}), ...(link ? { link } : {}) };
  }

  status(): Promise<BridgeStatus> {
    return this.deps.status();
  }

  private aliasOf(muc: string): string | undefined {
    try {
      return portalAlias(muc, this.deps.addressing);
    } catch {
      return undefined;
    }
  }

  private mayUse(userId: string): void {
    if (!hasPermission(userId, "user", this.deps.permissions())) throw new ProvisioningError("XMPP_NOT_ALLOWED", `${userId} may not use this bridge`);
  }

  private keptOut(roomId: string, err: unknown): never {
    const errcode = matrixErrorCode(err);
    if (errcode === undefined || !KEPT_OUT.has(errcode)) throw err;
    this.deps.log.info({ roomId, errcode }, "the bot cannot join the room to be provisioned");
    throw new ProvisioningError("XMPP_BOT_NOT_IN_ROOM", `the bridge bot is not in ${roomId} and cannot join it (${errcode}): invite ${this.deps.botUserId} first`);
  }

  private refusal(refusal: PlumbingRefusal, userId: string, roomId: string): ProvisioningError {
    switch (refusal.reason) {
      case "room-bridged":
        return new ProvisioningError("XMPP_DOUBLE_BRIDGE", `${roomId} is bridged already; unlink it first`);
      case "muc-bridged":
        return new ProvisioningError("XMPP_DOUBLE_BRIDGE", `${refusal.muc} is bridged to another room already`);
      case "unknown-muc":
        return new ProvisioningError("XMPP_UNKNOWN_MUC", `no MUC room answers at ${refusal.muc}`);
      case "power-level":
        return new ProvisioningError("XMPP_NOT_ENOUGH_POWER", `${userId} has power level ${refusal.has} in ${roomId}; ${refusal.needed} is needed`);
      case "not-bridged":
        return new ProvisioningError("XMPP_NOT_BRIDGED", `${roomId} is not bridged to a MUC`);
    }
  }
}
