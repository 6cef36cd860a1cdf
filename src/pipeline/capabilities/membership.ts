import { jidOfGhost, type AddressingConfig } from "../../core/identity.js";
import type { MatrixInboundOf, OccupantPresence, XmppEventOf } from "../../core/model.js";
import * as notices from "../../core/notices.js";
import type { Logger } from "../../log.js";
import type { MatrixRooms } from "../../matrix/rooms.js";
import type { MucOccupancy } from "../../xmpp/muc-occupancy.js";
import { deliver, isPassing } from "../errors.js";
import type { DirectChats } from "../destinations/direct-chats.js";
import type { GatewayMembers } from "../destinations/gateway/members.js";
import type { Ghosts } from "../destinations/ghosts.js";
import type { MatrixDestination } from "../destinations/matrix-destination.js";
import { joinFailureReason, type Puppets } from "../destinations/puppets.js";
import type { XmppDestination } from "../destinations/xmpp-destination.js";
import type { GhostProfiles, ProfileSource } from "./profiles/ghost-profiles.js";

export interface MembershipDeps {
  rooms: MatrixRooms;
  occupancy: MucOccupancy;
  puppets: Puppets;
  ghosts: Ghosts;
  directChats: DirectChats;
  gateway: GatewayMembers;
  profiles: GhostProfiles;
  addressing: AddressingConfig;
  botUserId: string;
  log: Logger;
}

/**
 * Who is in a room, both ways: a Matrix user's joins, nick changes and leaves move their puppet in the
 * MUC (or are told to a gateway room's occupants), and an invite of a ghost opens a DM (or, to a room
 * that is no direct chat, invites its XMPP user to the gateway room); an occupant's joins, nick changes, avatar and leaves move
 * its ghost in the room. (Removals by a moderator are the kicks module's.)
 */
export class Membership {
  constructor(private readonly deps: MembershipDeps) {}

  async fromMatrix(event: MatrixInboundOf<"membership">, destination: XmppDestination | undefined): Promise<void> {
    const { sender, roomId, target, membership } = event;
    if (membership === "invite" && !destination) {
      const xmppUser = jidOfGhost(target, this.deps.addressing);
      if (!xmppUser) return;
      // An invite to a room that is no direct chat is an invitation to it as a gateway room.
      if (!event.direct && (await this.deps.gateway.invite(roomId, sender, xmppUser, event.reason))) return;
      await this.deps.directChats.acceptInvite(roomId, sender, target, xmppUser);
      return;
    }
    const link = destination?.link;
    if (link?.kind === "gateway") return this.deps.gateway.memberChanged(event, link);
    if (!link || link.kind === "dm" || target === this.deps.botUserId) return;
    if (membership === "join") {
      const { displayName } = event;
      const current = this.deps.occupancy.nickOf(link.muc, target);
      if (current !== undefined && displayName && displayName !== current) {
        await deliver("nick change", () => this.deps.occupancy.changeNick(link.muc, target, displayName));
        return;
      }
      try {
        await this.deps.puppets.join(link, target, displayName, roomId);
      } catch (err) {
        if (isPassing(err)) throw err;
        await this.deps.rooms.notice(roomId, notices.puppetCannotJoin(displayName ?? target, link.muc, joinFailureReason(err)));
      }
    } else if (membership === "leave" || membership === "ban") {
      await deliver("leave MUC", () => this.deps.occupancy.leave(link.muc, target, membership === "ban" ? "Banned on Matrix" : undefined));
    }
  }

  async fromXmpp({ presence, change, via }: XmppEventOf<"occupant">, { roomId, ghost }: MatrixDestination): Promise<void> {
    if (!ghost) return;
    const nickAgain = () => (presence.realJid ? deliver("room nick", () => this.deps.rooms.setRoomNick(ghost, roomId, presence.nick)) : undefined);
    if (change === "joined") {
      // The avatar first: set once the ghost is in, it would be written over the room's nick.
      await this.occupantAvatar(ghost, presence, via);
      await this.deps.ghosts.enter(ghost, roomId, presence);
      await nickAgain();
    } else if (change === "avatar") {
      // The homeserver writes a new global avatar over per-room names: the nick is given again.
      if (await this.occupantAvatar(ghost, presence, via)) await nickAgain();
    } else if (change === "renamed" && presence.newNick) {
      const { newNick } = presence;
      await deliver("room nick", () => this.deps.rooms.setRoomNick(ghost, roomId, newNick));
    } else if (change === "left") {
      await deliver("ghost leave", () => this.deps.rooms.leave(ghost, roomId));
    }
  }

  /**
   * The occupant announced an avatar hash: the ghost follows. A hidden occupant's profile is asked
   * through the room, from the puppet that heard it; only a real JID's vCard names the ghost.
   */
  private async occupantAvatar(ghost: string, presence: OccupantPresence, via: string | undefined): Promise<boolean> {
    if (presence.avatarHash === undefined) return false;
    const source: ProfileSource = presence.realJid ? { jid: presence.realJid } : { jid: `${presence.muc}/${presence.nick}`, ...(via ? { from: via } : {}) };
    return this.deps.profiles.noteAvatarHash(source, presence.avatarHash, ghost, presence.realJid !== undefined);
  }
}
