import type { Logger } from "../log.js";
import type { MatrixRooms } from "../matrix/rooms.js";
import type { BotCommands } from "./commands.js";
import { bridged, onlyBridgedUsers, type Dispatch } from "./dispatch.js";
import type { DeliveryStatus } from "./capabilities/delivery-status.js";
import type { Encryption } from "./capabilities/encryption.js";
import type { Kicks } from "./capabilities/kicks.js";
import type { Membership } from "./capabilities/membership.js";
import type { Messages } from "./capabilities/messages.js";
import type { PresenceToXmpp } from "./capabilities/presence/presence-to-xmpp.js";
import type { PuppetProfiles } from "./capabilities/profiles/puppet-profiles.js";
import type { Reactions } from "./capabilities/reactions.js";
import type { Receipts } from "./capabilities/receipts.js";
import type { Redactions } from "./capabilities/redactions.js";
import type { RoomMetadata } from "./capabilities/room-metadata.js";
import type { Typing } from "./capabilities/typing.js";
import type { GatewayDestinations } from "./destinations/gateway/destination.js";
import type { GatewayMembers } from "./destinations/gateway/members.js";
import type { GatewayOccupants } from "./destinations/gateway/occupants.js";
import type { Portals } from "./portals.js";

export interface Capabilities {
  /** The rooms' memberships as the bridge knows them, kept current by every member event. */
  rooms: Pick<MatrixRooms, "observeMembership">;
  commands: BotCommands;
  messages: Messages;
  deliveryStatus: DeliveryStatus;
  membership: Membership;
  encryption: Encryption;
  kicks: Kicks;
  reactions: Reactions;
  redactions: Redactions;
  receipts: Receipts;
  typing: Typing;
  roomMetadata: RoomMetadata;
  puppetProfiles: PuppetProfiles;
  presenceToXmpp: PresenceToXmpp;
  /** Gateway rooms: occupants coming and going, members' changes told to them, their messages coming back. */
  gateway: { occupants: GatewayOccupants; members: GatewayMembers; destinations: GatewayDestinations };
  portals: Portals;
}

/**
 * Which capability takes which event, in order. Matrix → XMPP: the bot's commands take theirs first;
 * every member event keeps the memberships the rooms know current and may also carry a puppet's new
 * avatar; only what users the bridge serves did goes further (in a gateway room, everyone's does).
 * XMPP → Matrix: a message's signals (retraction, reactions, read marker, chat state) go to their
 * modules before its text does, and its sender's receipt after; a gateway room's occupant gets their message back once it is on Matrix.
 */
export function route(dispatch: Dispatch, c: Capabilities, bridges: (matrixUser: string) => boolean, log: Logger): Dispatch {
  const bridgedOnly = onlyBridgedUsers(bridges, log);
  return dispatch
    .onMatrix("message", (e, d) => c.commands.message(e, d), bridgedOnly, bridged((e, d) => c.messages.fromMatrix(e, d)))
    .onMatrix("membership", async (e) => c.rooms.observeMembership(e), (e) => c.puppetProfiles.observe(e), (e) => c.commands.invited(e), bridgedOnly, (e, d) => c.encryption.invited(e, d), (e, d) => c.kicks.fromMatrix(e, d), (e, d) => c.membership.fromMatrix(e, d))
    .onMatrix("encryption", bridged((e, d) => c.encryption.fromMatrix(e, d)))
    .onMatrix("reaction", bridgedOnly, bridged((e, d) => c.reactions.fromMatrix(e, d)))
    .onMatrix("redaction", bridgedOnly, bridged((e, d) => c.reactions.takenBackOnMatrix(e, d)), bridged((e, d) => c.redactions.fromMatrix(e, d)))
    .onMatrix("room-state", bridgedOnly, bridged((e, d) => c.gateway.members.roomStateChanged(e, d)), bridged((e, d) => c.roomMetadata.fromMatrix(e, d)))
    .onMatrix("power-levels", bridged((e, d) => c.gateway.members.powerLevelsChanged(e, d)))
    .onMatrix("typing", bridged((e, d) => c.typing.fromMatrix(e, d)))
    .onMatrix("receipt", bridged((e, d) => c.receipts.fromMatrix(e, d)))
    .onMatrix("presence", (e) => c.presenceToXmpp.handle(e))
    .onXmpp(
      "message",
      (e, d) => c.gateway.destinations.refuseStrangers(e, d),
      bridged((e, d) => c.redactions.fromXmpp(e, d)),
      bridged((e, d) => c.reactions.fromXmpp(e, d)),
      bridged((e, d) => c.receipts.fromXmpp(e, d)),
      bridged((e, d) => c.typing.fromXmpp(e, d)),
      bridged((e, d) => c.messages.fromXmpp(e, d)),
      bridged((e, d) => c.deliveryStatus.fromXmpp(e, d)),
      bridged((e, d) => c.gateway.destinations.reflect(e, d)),
    )
    .onXmpp("gateway-presence", (e) => c.gateway.occupants.presence(e))
    .onXmpp("occupant", bridged((e, d) => c.kicks.fromXmpp(e, d)), bridged((e, d) => c.membership.fromXmpp(e, d)))
    .onXmpp("subject", bridged((e, d) => c.roomMetadata.subjectFromXmpp(e, d)))
    .onXmpp("room-changed", bridged((e, d) => c.roomMetadata.mucChanged(e, d)))
    .onXmpp("moderation", bridged((e, d) => c.redactions.moderatedOnXmpp(e, d)))
    .onXmpp("reflection", (e) => c.messages.reflected(e))
    .onXmpp("refused", bridged((e, d) => c.messages.refused(e, d)))
    .onXmpp("bounced", bridged((e, d) => c.deliveryStatus.bounced(e, d)))
    .onXmpp("room-destroyed", bridged((e, d) => c.portals.destroyed(e, d)))
    .onXmpp("subscription", (e) => c.presenceToXmpp.onSubscription(e.type, e.from, e.matrixUser));
}
