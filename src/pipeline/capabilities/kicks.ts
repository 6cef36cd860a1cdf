import { asError } from "../../core/errors.js";
import { ghostOfOccupant, isGhost } from "../../core/identity.js";
import * as notices from "../../core/notices.js";
import type { MatrixInboundOf, XmppEventOf } from "../../core/model.js";
import { puppetAddress } from "../../xmpp/puppet-address.js";
import { renderModeration } from "../../xmpp/stanzas.js";
import type { MucOccupancy } from "../../xmpp/muc-occupancy.js";
import { deliver, isPassing } from "../errors.js";
import type { MucLink, Puppets } from "../destinations/puppets.js";
import type { MatrixDestination } from "../destinations/matrix-destination.js";
import type { XmppDestination } from "../destinations/xmpp-destination.js";
import type { CapabilityDeps } from "./capability.js";

export interface KicksDeps extends CapabilityDeps {
  occupancy: MucOccupancy;
  puppets: Puppets;
}

/**
 * Kicks and bans both ways, in rooms linked to a MUC. A Matrix user who removes a ghost has their
 * puppet ask the MUC to remove its occupant (a ban needs the occupant's real JID: without it, a kick
 * and a notice); a MUC moderator who removes an occupant has its ghost kicked, and one who removes a
 * puppet has its Matrix user kicked from a portal, or the plumbed room told.
 */
export class Kicks {
  constructor(private readonly deps: KicksDeps) {}

  /** Takes every membership change of a ghost in a room linked to a MUC: only its removal by someone else goes to XMPP. */
  async fromMatrix({ sender, roomId, target, membership, reason }: MatrixInboundOf<"membership">, destination: XmppDestination | undefined): Promise<boolean> {
    if (!isGhost(target, this.deps.addressing) || !destination?.muc || destination.link.kind === "dm") return false;
    if ((membership === "leave" || membership === "ban") && sender !== target) await this.moderate(destination.link, roomId, sender, target, membership === "ban" ? "ban" : "kick", reason);
    return true;
  }

  /** Takes the removals of occupants by a MUC moderator; other occupant changes are not its business. */
  async fromXmpp({ presence, change, puppetOf }: XmppEventOf<"occupant">, { link }: MatrixDestination): Promise<boolean> {
    if (!puppetOf && !(change === "left" && presence.removedBy)) return false;
    if (link.kind === "dm") return true;
    const what = presence.removedBy === "ban" ? "banned" : "kicked";
    if (!puppetOf) {
      const ghost = ghostOfOccupant(presence, this.deps.addressing);
      await deliver("ghost leave", () => this.deps.rooms.kick(link.roomId, ghost, `${presence.removedBy === "ban" ? "Banned" : "Kicked"} on XMPP`));
    } else if (link.kind === "portal") {
      await deliver("kick", () => this.deps.rooms.kick(link.roomId, puppetOf, `You were ${what} from ${presence.muc} on XMPP`));
    } else {
      await deliver("notice", () => this.deps.rooms.notice(link.roomId, notices.puppetRemoved(puppetOf, what, presence.muc)));
    }
    return true;
  }

  private async moderate(link: MucLink, roomId: string, moderator: string, ghost: string, action: "kick" | "ban", reason: string | undefined): Promise<void> {
    const { muc } = link;
    const occupant = this.deps.occupancy.occupants(muc).find((o) => ghostOfOccupant(o, this.deps.addressing) === ghost);
    if (!occupant) return;
    const why = reason || `${action === "ban" ? "Banned" : "Kicked"} on Matrix`;
    if (action === "ban" && !occupant.realJid) {
      await this.deps.rooms.notice(roomId, notices.kickedInsteadOfBanned(occupant.nick));
      action = "kick";
    }
    try {
      // Through the puppets' join, so that a MUC whose server cannot be reached is waited for only so long.
      await this.deps.puppets.join(link, moderator, undefined, roomId);
      await this.deps.connection.request(renderModeration(puppetAddress(moderator, this.deps.addressing), muc, occupant, action, why));
      this.deps.log.info({ muc, nick: occupant.nick, action, moderator }, "removed an occupant from a MUC");
    } catch (err) {
      if (isPassing(err)) throw err;
      const condition = (err as { condition?: string }).condition ?? asError(err).message;
      await this.deps.rooms.notice(roomId, notices.removalRefused(occupant.nick, muc, action, condition));
    }
  }
}
