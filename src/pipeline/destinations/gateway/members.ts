import { occupantStanding } from "../../../core/gateway.js";
import { gatewayRoomJid, isGhost, jidOfGhost, matrixLocalpart, splitJid } from "../../../core/identity.js";
import type { MatrixInboundOf } from "../../../core/model.js";
import { renderDirectInvitation, renderGatewaySubject, renderMediatedInvitation } from "../../../xmpp/gateway-stanzas.js";
import { puppetAddress } from "../../../xmpp/puppet-address.js";
import type { XmppDestination } from "../xmpp-destination.js";
import type { GatewayLink, GatewayParts } from "./rosters.js";

/** What Matrix members do to a gateway room's membership, told to its occupants as presence; and invitations. */
export class GatewayMembers {
  constructor(private readonly deps: GatewayParts) {}

  /** A Matrix member joined, changed their name, left or was removed: the occupants see it as presence. */
  async memberChanged({ sender, target, membership, displayName }: MatrixInboundOf<"membership">, link: GatewayLink): Promise<void> {
    const room = link.muc;
    const occupants = await this.deps.store.gatewayOccupants(room);
    if (occupants.size === 0) return;
    const roster = await this.deps.rosters.load(link, occupants);
    if (!roster || this.deps.rosters.entering.has(`${room}\n${target}`)) return;
    const before = roster.nicks.get(target);
    const ownResources = (occupant: string) => isGhost(target, this.deps.addressing) && jidOfGhost(target, this.deps.addressing) === splitJid(occupant).bare;
    if (membership === "join") {
      // An occupant's nick is the one it chose on XMPP, whatever name its ghost has on the way to it.
      const chosen = [...occupants].find(([occupant]) => ownResources(occupant))?.[1];
      const wanted = chosen ?? (displayName?.trim() || matrixLocalpart(target));
      const nick = [...roster.nicks].some(([userId, taken]) => taken === wanted && userId !== target) ? `${wanted} (${matrixLocalpart(target)})` : wanted;
      if (before === nick) return;
      roster.nicks.set(target, nick);
      for (const occupant of occupants.keys()) {
        const self = ownResources(occupant);
        // A joiner heard its own entry when it joined.
        if (before === undefined && self) continue;
        const statuses = self ? [110] : [];
        if (before !== undefined) await this.deps.rosters.send(this.deps.rosters.presenceOf(room, roster, target, before, occupant, [...statuses, 303], { unavailable: true, newNick: nick }));
        await this.deps.rosters.send(this.deps.rosters.presenceOf(room, roster, target, nick, occupant, statuses));
      }
      return;
    }
    if (membership !== "leave" && membership !== "ban") return;
    if (before === undefined) return;
    roster.nicks.delete(target);
    const removal = sender !== target ? [membership === "ban" ? 301 : 307] : [];
    for (const occupant of occupants.keys()) {
      const self = ownResources(occupant);
      // An occupant who left was told so already; one removed on Matrix learns it now, and is out.
      if (self && removal.length === 0) continue;
      await this.deps.rosters.send(this.deps.rosters.presenceOf(room, roster, target, before, occupant, self ? [110, ...removal] : removal, { unavailable: true }));
      if (self) await this.deps.store.setGatewayOccupant(room, occupant, undefined);
    }
  }

  /** New power levels change members' affiliations and roles (§9, §10): each change is told as presence. */
  async powerLevelsChanged({ levels }: MatrixInboundOf<"power-levels">, destination: XmppDestination): Promise<void> {
    if (destination.link.kind !== "gateway") return;
    const room = destination.link.muc;
    const occupants = await this.deps.store.gatewayOccupants(room);
    const roster = await this.deps.rosters.load(destination.link, occupants);
    if (!roster) return;
    const before = roster.levels;
    roster.levels = levels;
    for (const [userId, nick] of roster.nicks) {
      const [was, is] = [occupantStanding(userId, before), occupantStanding(userId, levels)];
      if (was.affiliation === is.affiliation && was.role === is.role) continue;
      const own = isGhost(userId, this.deps.addressing) ? jidOfGhost(userId, this.deps.addressing) : undefined;
      for (const occupant of occupants.keys()) await this.deps.rosters.send(this.deps.rosters.presenceOf(room, roster, userId, nick, occupant, splitJid(occupant).bare === own ? [110] : []));
    }
  }

  /** A new topic is the room's subject, told to every occupant (§8.1). */
  async roomStateChanged({ sender, field, value }: MatrixInboundOf<"room-state">, destination: XmppDestination): Promise<boolean> {
    if (destination.link.kind !== "gateway") return false;
    if (field !== "topic") return true;
    const from = destination.addressOf(sender);
    for (const occupant of (await this.deps.store.gatewayOccupants(destination.link.muc)).keys()) await this.deps.rosters.send(renderGatewaySubject(from, occupant, value));
    return true;
  }

  /**
   * A Matrix user invited an XMPP user's ghost into a room: the XMPP user gets a direct invitation
   * (XEP-0249) from the inviter's puppet and a mediated one (XEP-0045 §7.8.2) from the room. The ghost
   * stays invited, so the room lets it in when its user comes. False when the gateway is off.
   */
  async invite(roomId: string, inviter: string, xmppUser: string, reason: string | undefined): Promise<boolean> {
    const { settings, addressing } = this.deps;
    if (!settings.enabled || !settings.joinById) return false;
    const room = gatewayRoomJid(roomId, addressing);
    const from = puppetAddress(inviter, addressing);
    await this.deps.rosters.send(renderDirectInvitation(from, xmppUser, room, reason));
    await this.deps.rosters.send(renderMediatedInvitation(room, xmppUser, from, reason));
    this.deps.log.info({ roomId, room, inviter, xmppUser }, "invited an XMPP user to a gateway room");
    return true;
  }
}
