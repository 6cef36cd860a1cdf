import { MembershipCache, type UserMembership, type UserProfile } from "matrix-appservice-bridge";
import { BoundedMap } from "../core/bounded-map.js";

/** Memberships of the bridge's users (ghosts, the bot) the library remembers, by room and user. */
const MAX_MEMBERSHIPS = 20_000;
/** Users the library knows are registered. */
const MAX_REGISTERED = 20_000;

const entryKey = (roomId: string, userId: string): string => `${roomId}\n${userId}`;

/**
 * The library's memory of the memberships and registrations of the bridge's own users, which it keeps
 * to skip a join or a registration it thinks done; its own keeps every one it ever saw. Bounded here:
 * what is forgotten costs a request the next time (a join that is one already, a registration
 * answered M_USER_IN_USE), and the bridge's own membership cache (rooms.ts) keeps the hot path from
 * even that.
 */
export class BoundedMembershipCache extends MembershipCache {
  private readonly entries = new BoundedMap<string, { roomId: string; userId: string; membership: UserMembership; profile: UserProfile }>(MAX_MEMBERSHIPS);
  private readonly registered = new BoundedMap<string, true>(MAX_REGISTERED);

  override getMemberEntry(roomId: string, userId: string): UserMembership {
    return this.entries.get(entryKey(roomId, userId))?.membership ?? null;
  }

  override getMemberProfile(roomId: string, userId: string): UserProfile {
    return this.entries.get(entryKey(roomId, userId))?.profile ?? {};
  }

  override setMemberEntry(roomId: string, userId: string, membership: UserMembership, profile: UserProfile): void {
    // As the library's own: bans and invites do not mean the user exists.
    if (membership === "join" || membership === "leave") this.registered.set(userId, true);
    this.entries.set(entryKey(roomId, userId), { roomId, userId, membership, profile });
  }

  override isUserRegistered(userId: string): boolean {
    return this.registered.has(userId);
  }

  override getMembersForRoom(roomId: string, filterFor?: UserMembership): string[] | null {
    const members = [...this.entries.values()].filter((e) => e.roomId === roomId && (!filterFor || e.membership === filterFor));
    return members.length > 0 ? members.map((e) => e.userId) : null;
  }
}
