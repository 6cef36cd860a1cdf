import type { Registry } from "prom-client";
import type { Element } from "@xmpp/xml";
import type { BridgeConfig } from "../config/schema.js";
import type { FileUrls } from "../core/file-urls.js";
import { ghostUserId, isGhost, type AddressingConfig } from "../core/identity.js";
import { isBridgedUser } from "../core/permissions.js";
import { fileTransferCounter } from "../http/file-metrics.js";
import type { Logger } from "../log.js";
import { readMatrixEvent } from "../matrix/events.js";
import type { Homeserver } from "../matrix/homeserver.js";
import type { MatrixMedia } from "../matrix/media.js";
import { MatrixRooms } from "../matrix/rooms.js";
import { DeliveryStatus } from "../pipeline/capabilities/delivery-status.js";
import { Files } from "../pipeline/capabilities/files.js";
import { Encryption } from "../pipeline/capabilities/encryption.js";
import { Kicks } from "../pipeline/capabilities/kicks.js";
import { Membership } from "../pipeline/capabilities/membership.js";
import { Messages } from "../pipeline/capabilities/messages.js";
import { PresenceToMatrix } from "../pipeline/capabilities/presence/presence-to-matrix.js";
import { PresenceToXmpp } from "../pipeline/capabilities/presence/presence-to-xmpp.js";
import { AvatarUploads } from "../pipeline/capabilities/profiles/avatar-uploads.js";
import { GhostProfiles, type GhostProfilesDeps } from "../pipeline/capabilities/profiles/ghost-profiles.js";
import { MatrixAvatars } from "../pipeline/capabilities/profiles/matrix-avatars.js";
import { PuppetProfiles } from "../pipeline/capabilities/profiles/puppet-profiles.js";
import { Reactions } from "../pipeline/capabilities/reactions.js";
import { Receipts } from "../pipeline/capabilities/receipts.js";
import { Redactions } from "../pipeline/capabilities/redactions.js";
import { RoomMetadata } from "../pipeline/capabilities/room-metadata.js";
import { Typing } from "../pipeline/capabilities/typing.js";
import { bridgeStatus } from "../pipeline/bridge-status.js";
import { BotCommands } from "../pipeline/commands.js";
import { DirectChats } from "../pipeline/destinations/direct-chats.js";
import { GatewayDestinations } from "../pipeline/destinations/gateway/destination.js";
import { GatewayMembers } from "../pipeline/destinations/gateway/members.js";
import { GatewayOccupants } from "../pipeline/destinations/gateway/occupants.js";
import { GatewayRosters } from "../pipeline/destinations/gateway/rosters.js";
import { GatewayServices } from "../pipeline/destinations/gateway/services.js";
import { Ghosts } from "../pipeline/destinations/ghosts.js";
import { MatrixDestinations } from "../pipeline/destinations/matrix-destination.js";
import { Puppets } from "../pipeline/destinations/puppets.js";
import { XmppDestinations } from "../pipeline/destinations/xmpp-destinations.js";
import { Dispatch } from "../pipeline/dispatch.js";
import { Ingress } from "../pipeline/ingress.js";
import { LoopGuard } from "../pipeline/loop-guard.js";
import type { MatrixInbound } from "../core/model.js";
import { onward, type Trail } from "../core/trail.js";
import { oldestEntryTimes, population } from "./metric-sources.js";
import { Plumbing } from "../pipeline/plumbing.js";
import { Portals } from "../pipeline/portals.js";
import { Provisioning } from "../pipeline/provisioning.js";
import { ThirdPartyLookups } from "../pipeline/third-party.js";
import { route } from "../pipeline/routes.js";
import { SenderLimits } from "../pipeline/sender-limits.js";
import { LatestWinsThrottle } from "../pipeline/throttle.js";
import type { BridgeStore } from "../store/store.js";
import { fetchXmppProfile } from "../xmpp/avatars.js";
import type { ComponentConnection } from "../xmpp/component-connection.js";
import { XmppInbound } from "../xmpp/inbound.js";
import { describeMuc } from "../xmpp/muc-directory.js";
import { MucArchive } from "../xmpp/muc-archive.js";
import { MucHistory } from "../xmpp/muc-history.js";
import { MucOccupancy } from "../xmpp/muc-occupancy.js";
import { PeerFeatures } from "../xmpp/peer-features.js";
import { puppetAddress } from "../xmpp/puppet-address.js";
import { BridgeMetrics } from "../http/bridge-metrics.js";
import { SOFTWARE_VERSION } from "../version.js";
import { addressingOf, fetchSharedFile, fileSharing, healthChecks, roomProfileFrom, writesConfirmed } from "./adapters.js";

export interface PipelineParts {
  config: BridgeConfig;
  store: BridgeStore;
  homeserver: Homeserver;
  connection: ComponentConnection;
  media: MatrixMedia;
  fileUrls: FileUrls;
  registry: Registry;
  log: Logger;
}

/**
 * Anyone may send presence to a puppet: a contact's avatar, which is part of it, is fetched at most
 * once per presence interval.
 */
function contactAvatarThrottle(config: BridgeConfig, ghostProfiles: GhostProfiles, addressing: AddressingConfig, log: Logger): LatestWinsThrottle<string> {
  return new LatestWinsThrottle<string>(
    config.presence.minIntervalSeconds * 1000,
    async (xmppUser, hash) => void (await ghostProfiles.noteAvatarHash({ jid: xmppUser }, hash, ghostUserId(xmppUser, addressing), true)),
    (xmppUser, err) => log.warn({ xmppUser, err }, "could not bring a contact's avatar up to date"),
  );
}

/** Builds the pipeline between the two sides: destinations, capabilities, the dispatch table and the queues. */
export function buildPipeline({ config, store, homeserver, connection, media, fileUrls, registry, log }: PipelineParts) {
  const addressing = addressingOf(config);
  const { botUserId } = homeserver;
  const messageMapSeconds = config.bridge.messageMapDays * 24 * 3600;
  // Who may use the bridge: replaced when the config is reloaded (SIGHUP).
  let permissions = config.bridge.permissions;
  const bridges = (matrixUser: string): boolean => isBridgedUser(matrixUser, botUserId, addressing, permissions);
  const logOf = (module: string) => log.child({ module });
  const rooms = new MatrixRooms(homeserver, store);
  const countedTransfer = fileTransferCounter(registry);
  const xmppLog = logOf("xmpp");
  const uploads = new AvatarUploads(store, media, logOf("profiles"));
  const avatars = new MatrixAvatars(store, media, logOf("profiles"));
  const puppetProfiles = new PuppetProfiles({ rooms, avatars, bridges, addressing, log: logOf("profiles") });
  const lookUp: GhostProfilesDeps["lookUp"] = ({ jid, from }) => fetchXmppProfile(connection, jid, xmppLog, from);
  const ghostProfiles = new GhostProfiles({ store, rooms, uploads, lookUp, log: logOf("profiles") });
  // The first puppet in a room brings what it said meanwhile, through the inbound side, which is built later.
  const archive = new MucArchive(connection, logOf("muc"));
  const inboundSide = { handle: (stanza: Element): Promise<void> => inbound.handle(stanza) };
  const mucHistory = new MucHistory({ store, archive, inbound: inboundSide, addressing, backfillMessages: config.bridge.backfillMessages, log: logOf("muc") });
  const occupancy = new MucOccupancy({ connection, store, puppetAddress: (u) => puppetAddress(u, addressing), avatarHashOf: (u) => puppetProfiles.avatarHashOf(u), history: mucHistory, log: logOf("muc") });
  const peers = new PeerFeatures(connection, xmppLog);
  const lookUpMuc = (muc: string) => describeMuc(connection, muc, xmppLog);

  const puppets = new Puppets({ rooms, occupancy, unreachableRetryMs: config.bridge.unreachableMucRetrySeconds * 1000, log: logOf("to-xmpp") });
  const ghosts = new Ghosts({ rooms, firstSight: (ghost, jid, fallbackName) => ghostProfiles.firstSight(ghost, jid, fallbackName), self: addressing.componentDomain });
  const directChats = new DirectChats({ store, rooms, log: logOf("direct-chats") });
  const gatewayParts = { store, rooms, connection, ghosts, addressing, settings: config.gateway, messageMapSeconds, log: logOf("gateway"), rosters: new GatewayRosters({ rooms, connection, addressing }) };
  const gateway = { occupants: new GatewayOccupants(gatewayParts), members: new GatewayMembers(gatewayParts), destinations: new GatewayDestinations(gatewayParts), services: new GatewayServices(gatewayParts) };
  const xmppDestinations = new XmppDestinations({ store, connection, puppets, gateway: gateway.destinations, addressing, botUserId });
  const matrixDestinations = new MatrixDestinations({ store, ghosts, directChats, addressing, log: logOf("to-matrix") });
  const isOwnMatrixUser = (userId: string): boolean => userId === botUserId || isGhost(userId, addressing);
  // What the bridge's own users wrote (a gateway room's ghosts) goes out with the trail it has; anyone else's with this bridge added.
  const trailOut = (e: MatrixInbound): Trail | undefined => ("eventId" in e ? (isOwnMatrixUser(e.sender) ? e.trail : onward(e.trail, e.roomId, addressing.componentDomain)) : undefined);
  const dispatch = new Dispatch({ ofMatrixEvent: async (e) => ("roomId" in e ? xmppDestinations.ofRoom(e.roomId, trailOut(e)) : undefined), ofXmppEvent: (e) => matrixDestinations.of(e) });
  const observer = new BridgeMetrics(
    registry,
    { links: () => store.links(), outboxDepths: () => store.outboxDepths(), oldestEntryTimes: () => oldestEntryTimes(store), population: () => population(store, occupancy), checks: healthChecks(homeserver, store, connection) },
    SOFTWARE_VERSION,
  );
  const readEvent = (raw: unknown) => readMatrixEvent(raw, logOf("matrix"));
  const deps = (module: string) => ({ store, rooms, connection, addressing, botUserId, messageMapSeconds, log: logOf(module) });
  const limit = config.limits.perSender;
  const deliveryStatus = new DeliveryStatus({ ...deps("delivery-status"), undeliverable: (direction, reason) => observer.undeliverable(direction, reason), limit });
  const undeliverable = { fromXmpp: deliveryStatus.undeliverableFromXmpp.bind(deliveryStatus), fromMatrix: deliveryStatus.undeliverableFromMatrix.bind(deliveryStatus) };
  const rateLimited = { fromXmpp: deliveryStatus.heldFromXmpp.bind(deliveryStatus), fromMatrix: deliveryStatus.heldFromMatrix.bind(deliveryStatus) };
  const limits = new SenderLimits(limit);
  const ingress = new Ingress({ store, dispatch, readMatrixEvent: readEvent, confirmXmppWrites: writesConfirmed(connection), messageMapSeconds, observer, undeliverable, limits, isOwnMatrixUser, rateLimited, log: logOf("outbox") });
  const onCreated = (muc: string) => ingress.queueForMatrix(muc, { kind: "room-changed", muc });
  const portals = new Portals({ store, rooms, describeMuc: lookUpMuc, occupancy, addressing, onCreated, log: logOf("portals") });
  const plumbing = new Plumbing({ store, rooms, occupancy, describeMuc: lookUpMuc, log: logOf("plumbing") });
  const status = () => bridgeStatus(healthChecks(homeserver, store, connection), store);
  const thirdParty = new ThirdPartyLookups({ store, rooms, describeMuc: lookUpMuc, addressing, log: logOf("third-party") });
  const provisioning = new Provisioning({ plumbing, store, rooms, describeMuc: lookUpMuc, status, addressing, permissions: () => permissions, botUserId, log: logOf("provisioning") });

  const files = new Files({ rooms, shareFile: countedTransfer("to_xmpp", fileSharing(config, media, connection, fileUrls, addressing)), fetchFile: countedTransfer("to_matrix", fetchSharedFile(config)), upload: (file, ghost) => media.upload(file, ghost), log: logOf("files") });
  const presenceToXmpp = new PresenceToXmpp({ ...deps("presence"), settings: config.presence, avatarHashOf: (u) => puppetProfiles.avatarHashOf(u) });
  const presenceToMatrix = new PresenceToMatrix({ store, rooms, addressing, settings: config.presence, log: logOf("presence") });
  puppetProfiles.onAvatarChanged(async (u) => void (await Promise.all([occupancy.refreshPresence(u), presenceToXmpp.announce(u)])));
  route(
    dispatch,
    {
      rooms,
      commands: new BotCommands({ store, rooms, portals, plumbing, addressing, get permissions() { return permissions; }, botUserId, status, log: logOf("commands") }),
      messages: new Messages({ ...deps("messages"), files, occupancy }),
      deliveryStatus,
      membership: new Membership({ rooms, occupancy, puppets, ghosts, directChats, gateway: gateway.members, profiles: ghostProfiles, addressing, botUserId, log: logOf("membership") }),
      encryption: new Encryption({ rooms, store, occupancy, addressing, log: logOf("encryption") }),
      kicks: new Kicks({ ...deps("kicks"), occupancy, puppets }),
      reactions: new Reactions({ ...deps("reactions"), peerSupports: (jid, feature, from) => peers.supports(jid, feature, from) }),
      redactions: new Redactions(deps("redactions")),
      receipts: new Receipts(deps("receipts")),
      typing: new Typing(deps("typing")),
      roomMetadata: new RoomMetadata({ ...deps("room-metadata"), avatars, uploads, describeMuc: lookUpMuc, roomProfile: roomProfileFrom(connection, xmppLog) }),
      puppetProfiles,
      presenceToXmpp,
      gateway,
      portals,
      loops: new LoopGuard({ self: addressing.componentDomain, isOwnMatrixUser, log: logOf("loops") }),
    },
    bridges,
    logOf("to-xmpp"),
  );

  const contactAvatars = contactAvatarThrottle(config, ghostProfiles, addressing, log);
  const contacts = { availability: presenceToMatrix.handle.bind(presenceToMatrix) };
  const queue = ingress.queueForMatrix.bind(ingress);
  const noteContactAvatar = async (xmppUser: string, hash: string) => contactAvatars.offer(xmppUser, hash);
  const answer = (stanza: Element) => connection.send(stanza);
  const inbound = new XmppInbound({ occupancy, peers, addressing, contacts, queue, noteContactAvatar, answer, log: logOf("from-xmpp") });
  const setPermissions = (table: typeof permissions): void => void (permissions = table);
  // What the connection receives passes mucHistory, which holds a room's live messages while its history is read.
  return { addressing, botUserId, gateway: gateway.services, ingress, portals, provisioning, thirdParty, occupancy, puppetProfiles, presenceToXmpp, presenceToMatrix, contactAvatars, inbound: mucHistory, setPermissions };
}
