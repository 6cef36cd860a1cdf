/**
 * Gateway rooms, the protocol-neutral part: what a Matrix room's power levels make of each member as
 * a MUC occupant (XEP-0045 affiliations and roles), and nicks that are unique in the room.
 */

export type MucAffiliation = "owner" | "admin" | "member" | "none" | "outcast";
export type MucRole = "moderator" | "participant" | "visitor" | "none";

export interface PowerLevels {
  users?: Record<string, number>;
  users_default?: number;
  events_default?: number;
}

/** 100 owner, 50 and up admin and moderator, others member and participant, below events_default a visitor. */
export function occupantStanding(userId: string, levels: PowerLevels): { affiliation: MucAffiliation; role: MucRole } {
  const level = levels.users?.[userId] ?? levels.users_default ?? 0;
  if (level >= 100) return { affiliation: "owner", role: "moderator" };
  if (level >= 50) return { affiliation: "admin", role: "moderator" };
  return { affiliation: "member", role: level < (levels.events_default ?? 0) ? "visitor" : "participant" };
}

/**
 * Each member's nick: their display name in the room (else their localpart), made unique by adding the
 * user ID's localpart where two would be the same.
 */
export function uniqueNicks(members: ReadonlyMap<string, string | undefined>): Map<string, string> {
  const byName = new Map<string, string[]>();
  for (const [userId, displayName] of members) {
    const name = displayName?.trim() || userId.slice(1).split(":")[0] || userId;
    byName.set(name, [...(byName.get(name) ?? []), userId]);
  }
  const nicks = new Map<string, string>();
  for (const [name, users] of byName) {
    for (const userId of users) nicks.set(userId, users.length === 1 ? name : `${name} (${userId.slice(1).split(":")[0]})`);
  }
  return nicks;
}
