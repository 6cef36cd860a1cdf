/** Who may use the bridge, from the config's permissions table. Pure. */
import { isGhost, type AddressingConfig } from "./identity.js";

export type PermissionLevel = "none" | "user" | "admin";

const RANK: Record<PermissionLevel, number> = { none: 0, user: 1, admin: 2 };

/** The most specific entry wins: the user ID, then the user's homeserver domain, then "*". */
export function permissionOf(userId: string, table: Readonly<Record<string, PermissionLevel>>): PermissionLevel {
  const domain = userId.slice(userId.indexOf(":") + 1);
  return table[userId] ?? table[domain] ?? table["*"] ?? "none";
}

export function hasPermission(userId: string, needed: PermissionLevel, table: Readonly<Record<string, PermissionLevel>>): boolean {
  return RANK[permissionOf(userId, table)] >= RANK[needed];
}

/** Whether a Matrix user's doings go to XMPP: not the bridge's own users (its bot, its ghosts), and allowed to use it. */
export function isBridgedUser(userId: string, botUserId: string, addressing: AddressingConfig, table: Readonly<Record<string, PermissionLevel>>): boolean {
  return userId !== botUserId && !isGhost(userId, addressing) && hasPermission(userId, "user", table);
}
