import { createServer, type Server } from "node:http";
import express from "express";
import { Registry } from "prom-client";
import type { BridgeConfig } from "./config/schema.js";
import type { Logger } from "./log.js";
import { appserviceRouter, type Transaction } from "./matrix/appservice-api.js";
import { readMatrixEvent } from "./matrix/events.js";
import type { Element } from "@xmpp/xml";
import { Homeserver, configureLibraryLogging } from "./matrix/homeserver.js";
import type { Registration } from "./matrix/registration.js";
import { probeRoutes, statusApp, type HealthCheck } from "./http/status-server.js";
import { Dispatch, onlyBridgedUsers } from "./pipeline/dispatch.js";
import { Puppets } from "./pipeline/puppets.js";
import { Reactions } from "./pipeline/capabilities/reactions.js";
import { Receipts } from "./pipeline/capabilities/receipts.js";
import { Redactions } from "./pipeline/capabilities/redactions.js";
import { Kicks } from "./pipeline/capabilities/kicks.js";
import type { CapabilityDeps } from "./pipeline/capabilities/capability.js";
import { Typing } from "./pipeline/capabilities/typing.js";
import { Ingress } from "./pipeline/ingress.js";
import { RedisStore } from "./store/redis-store.js";
import { ComponentConnection } from "./xmpp/component-connection.js";
import { answerServiceQueries } from "./xmpp/service-info.js";
import { ghostUserId, isPuppet, type AddressingConfig } from "./core/identity.js";
import type { SharedFile } from "./core/model.js";
import { isBridgedUser } from "./core/permissions.js";
import { fileTransferCounter } from "./http/file-metrics.js";
import { shareBySignedUrl, shareByUpload, uploadServiceFinder, type ShareFile } from "./pipeline/files-to-xmpp.js";
import { MatrixRooms } from "./matrix/rooms.js";
import { MatrixMedia } from "./matrix/media.js";
import { FileUrls } from "./core/file-urls.js";
import { mediaApp } from "./http/media-server.js";
import { AvatarUploads } from "./pipeline/avatar-uploads.js";
import { MatrixAvatars } from "./pipeline/matrix-avatars.js";
import { GhostProfiles } from "./pipeline/profiles.js";
import { PuppetProfiles } from "./pipeline/puppet-profiles.js";
import { RoomMetadataToMatrix } from "./pipeline/room-metadata-to-matrix.js";
import { RoomMetadataToXmpp } from "./pipeline/room-metadata-to-xmpp.js";
import { MatrixToXmpp } from "./pipeline/matrix-to-xmpp.js";
import { Portals } from "./pipeline/portals.js";
import { BotCommands } from "./pipeline/commands.js";
import { PresenceToMatrix } from "./pipeline/presence-to-matrix.js";
import { PresenceToXmpp } from "./pipeline/presence-to-xmpp.js";
import { XmppToMatrix } from "./pipeline/xmpp-to-matrix.js";
import { FilesToMatrix } from "./pipeline/files-to-matrix.js";
import { LatestWinsThrottle } from "./pipeline/throttle.js";
import { fetchRemoteFile, type RemoteFile } from "./media/remote-file.js";
import { XmppInbound } from "./xmpp/inbound.js";
import { fetchXmppProfile } from "./xmpp/avatars.js";
import { describeMuc } from "./xmpp/muc-directory.js";
import { MucOccupancy } from "./xmpp/muc-occupancy.js";
import { puppetAddress } from "./xmpp/puppet-address.js";
import { answerPuppetVcards, readVcard, requestVcard } from "./xmpp/vcard.js";
import { PeerFeatures } from "./xmpp/peer-features.js";
import { SOFTWARE_NAME, SOFTWARE_VERSION } from "./version.js";

export interface RunningBridge {
  stop(): Promise<void>;
  /** Applies what may change while running (bridge.permissions, the Matrix libraries' logging); the rest needs a restart. */
  reload(config: BridgeConfig): void;
  /** Resolves when a part the bridge cannot live without failed for good after start-up. */
  readonly fatal: Promise<Error>;
}

function listen(app: express.Express, host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer(app);
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}

const closeServer = (server: Server): Promise<void> =>
  new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

/** How Matrix files reach XMPP users: by signed file URL, or uploaded to the XMPP server (XEP-0363). */
function fileSharing(config: BridgeConfig, media: MatrixMedia, connection: ComponentConnection, fileUrls: FileUrls, addressing: AddressingConfig): ShareFile {
  if (config.media.matrixToXmpp === "link") return shareBySignedUrl(fileUrls);
  return shareByUpload({
    media,
    connection,
    // The component's domain is a subdomain of the XMPP server's, whose services it lists.
    service: uploadServiceFinder(connection, config.media.uploadService, config.xmpp.domain.split(".").slice(1).join(".")),
    puppetOf: (matrixUser) => puppetAddress(matrixUser, addressing),
    maxBytes: config.media.maxBytes,
    timeoutMs: config.media.timeoutSeconds * 1000,
  });
}

/** Files XMPP users share by URL, fetched within the configured limits. */
function fetchSharedFile(config: BridgeConfig): (file: SharedFile) => Promise<RemoteFile> {
  const limits = { maxBytes: config.media.maxBytes, timeoutMs: config.media.timeoutSeconds * 1000, maxRedirects: config.media.maxRedirects, allowedHosts: config.media.allowedHosts };
  return (file) => fetchRemoteFile(file.url, limits, file.mediaType ? { mediaType: file.mediaType } : undefined);
}

const addressingOf = (config: BridgeConfig): AddressingConfig => ({
  homeserverDomain: config.homeserver.domain,
  componentDomain: config.xmpp.domain,
  userPrefix: config.bridge.userPrefix,
  aliasPrefix: config.bridge.aliasPrefix,
});

/** The room's vCard, where its avatar is (XEP-0486). */
const roomProfileFrom = (connection: ComponentConnection, log: Logger) => async (muc: string) => {
  const vcard = await requestVcard(connection, muc, log);
  return vcard ? readVcard(vcard) : undefined;
};

/**
 * The Application Service API, answered by the bridge itself: transactions go to the ingress. The probes
 * (/live, /ready) are served here too, so that they are there even with metrics turned off.
 */
function appserviceApp(config: BridgeConfig, hsToken: string, ingress: Ingress, portals: Portals, checks: readonly HealthCheck[], log: Logger): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.use(probeRoutes(checks));
  const handlers = {
    onTransaction: (txn: Transaction) => ingress.acceptTransaction(txn.txnId, [...txn.events, ...txn.ephemeral]),
    onUserQuery: async () => false,
    onAliasQuery: (alias: string) => portals.onAliasQuery(alias),
    onPing: (transactionId: string | undefined) => log.debug({ transactionId }, "homeserver ping"),
  };
  app.use(appserviceRouter(hsToken, handlers, log.child({ module: "appservice" }), config.appservice.maxBodyBytes));
  return app;
}

/** A check of each part the bridge needs, for /health and /ready. */
const healthChecks = (homeserver: Homeserver, store: RedisStore, connection: ComponentConnection): HealthCheck[] => [
  { name: "redis", check: async () => (await store.ping(), true) },
  { name: "xmpp", check: async () => connection.isOnline() },
  { name: "homeserver", check: () => homeserver.isUp() },
];

/** /metrics, /health and the probes, with the bridge's gauges. */
function statusAppOf(registry: Registry, homeserver: Homeserver, store: RedisStore, checks: readonly HealthCheck[]): express.Express {
  homeserver.bridge.registerBridgeGauges(async () => {
    const links = await store.links();
    return { matrixRoomConfigs: links.length, remoteRoomConfigs: links.length };
  });
  return statusApp(registry, checks);
}

/** The capabilities, each both ways, on the same footing; each logs as its own module. */
function capabilities(deps: Omit<CapabilityDeps, "log">, occupancy: MucOccupancy, peers: PeerFeatures, log: Logger) {
  const withLog = (module: string): CapabilityDeps => ({ ...deps, log: log.child({ module }) });
  return {
    reactions: new Reactions({ ...withLog("reactions"), peerSupports: (jid, feature, from) => peers.supports(jid, feature, from) }),
    redactions: new Redactions(withLog("redactions")),
    kicks: new Kicks({ ...withLog("kicks"), occupancy }),
    typing: new Typing(withLog("typing")),
    receipts: new Receipts(withLog("receipts")),
  };
}

/** What the outbox waits for after a delivery to XMPP: the server has read everything written until then. */
const writesConfirmed = (connection: ComponentConnection) => (): (() => Promise<void>) => {
  const mark = connection.writeMark();
  return () => connection.confirmWritten(mark);
};

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

/** Wires the adapters together and starts them in the order that gives the clearest errors. */
export async function startBridge(config: BridgeConfig, registration: Registration, log: Logger): Promise<RunningBridge> {
  configureLibraryLogging(config.logging.level);
  const registry = new Registry();
  const store = new RedisStore(config.redis.url, config.redis.keyPrefix, log.child({ module: "store" }));
  const matrixLog = log.child({ module: "matrix" });
  const homeserverOptions = { url: config.homeserver.url, domain: config.homeserver.domain, registration, botDisplayName: config.bridge.botDisplayName, metricsRegistry: registry };
  const homeserver = new Homeserver(homeserverOptions, matrixLog);
  const connection = new ComponentConnection(config.xmpp, log.child({ module: "xmpp" }));
  const servers: Server[] = [];

  const addressing = addressingOf(config);
  const { botUserId } = homeserver;
  const messageMapSeconds = config.bridge.messageMapDays * 24 * 3600;
  let permissions = config.bridge.permissions;
  const bridges = (matrixUser: string): boolean => isBridgedUser(matrixUser, botUserId, addressing, permissions);
  const rooms = new MatrixRooms(homeserver);
  const media = new MatrixMedia(config.homeserver.url, registration.as_token);
  const mediaPublicUrl = config.media.publicUrl ?? `http://${config.media.bindAddress}:${config.media.port}`;
  const fileUrls = new FileUrls(registration.as_token, mediaPublicUrl, config.media.linkDays * 24 * 3600 * 1000);
  const countedTransfer = fileTransferCounter(registry);
  const profilesLog = log.child({ module: "profiles" });
  const xmppLog = log.child({ module: "xmpp" });
  const matrixAvatars = new MatrixAvatars(store, media, profilesLog);
  const avatarUploads = new AvatarUploads(store, media, profilesLog);
  const puppetProfiles = new PuppetProfiles(rooms, matrixAvatars, bridges, addressing, profilesLog);
  const occupancy = new MucOccupancy(connection, store, (u) => puppetAddress(u, addressing), (u) => puppetProfiles.avatarHashOf(u), log.child({ module: "muc" }));
  const peers = new PeerFeatures(connection, xmppLog);
  const shareFile = countedTransfer("to_xmpp", fileSharing(config, media, connection, fileUrls, addressing));
  const toXmppLog = log.child({ module: "to-xmpp" });
  const puppets = new Puppets({ rooms, occupancy, addressing, botUserId, log: toXmppLog });
  const capabilityDeps = { store, rooms, connection, puppets, addressing, botUserId, messageMapSeconds };
  const toXmpp = new MatrixToXmpp({ ...capabilityDeps, occupancy, shareFile, log: toXmppLog });
  const { reactions, redactions, kicks, typing, receipts } = capabilities(capabilityDeps, occupancy, peers, log);
  const files = new FilesToMatrix(countedTransfer("to_matrix", fetchSharedFile(config)), (file, ghost) => media.upload(file, ghost), log.child({ module: "to-matrix" }));
  const lookUpMuc = (muc: string) => describeMuc(connection, muc, xmppLog);
  const ghostProfiles = new GhostProfiles(store, rooms, avatarUploads, ({ jid, from }) => fetchXmppProfile(connection, jid, xmppLog, from), profilesLog);
  const roomMetadataToMatrix = new RoomMetadataToMatrix(store, rooms, lookUpMuc, roomProfileFrom(connection, xmppLog), avatarUploads, botUserId, log.child({ module: "room-metadata" }));
  const roomMetadataToXmpp = new RoomMetadataToXmpp({ store, rooms, connection, avatars: matrixAvatars, puppets, addressing, messageMapSeconds, log: log.child({ module: "room-metadata" }) });
  const toMatrix = new XmppToMatrix({ store, rooms, addressing, messageMapSeconds, profiles: ghostProfiles, botUserId, files, reactions, redactions, receipts, typing, log: log.child({ module: "to-matrix" }) });
  const presenceLog = log.child({ module: "presence" });
  const presenceToXmpp = new PresenceToXmpp({ store, rooms, connection, addressing, botUserId, settings: config.presence, avatarHashOf: (u) => puppetProfiles.avatarHashOf(u), log: presenceLog });
  const presenceToMatrix = new PresenceToMatrix(store, rooms, addressing, config.presence, presenceLog);
  puppetProfiles.onAvatarChanged(async (u) => void (await Promise.all([occupancy.refreshPresence(u), presenceToXmpp.announce(u)])));

  const dispatch = new Dispatch();
  const confirmXmppWrites = writesConfirmed(connection);
  const ingress = new Ingress({ store, dispatch, readMatrixEvent: (raw) => readMatrixEvent(raw, matrixLog), confirmXmppWrites, messageMapSeconds, log: log.child({ module: "outbox" }) });
  const portals = new Portals(store, rooms, lookUpMuc, addressing, (muc) => ingress.queueForMatrix(muc, { kind: "room-changed", muc }), log.child({ module: "portals" }));
  const commands = new BotCommands({ store, rooms, portals, occupancy, describeMuc: lookUpMuc, addressing, get permissions() { return permissions; }, botUserId, log: log.child({ module: "commands" }) });
  // Matrix → XMPP: the bot's commands take theirs first; a member event may also carry a puppet's new
  // avatar; only what users the bridge serves did goes further.
  const bridgedOnly = onlyBridgedUsers(bridges, toXmppLog);
  dispatch
    .onMatrix("message", (e) => commands.message(e), bridgedOnly, (e) => toXmpp.message(e))
    .onMatrix("membership", (e) => puppetProfiles.observe(e), (e) => commands.invited(e), bridgedOnly, (e) => kicks.fromMatrix(e), (e) => toXmpp.membership(e))
    .onMatrix("reaction", bridgedOnly, (e) => reactions.fromMatrix(e))
    .onMatrix("redaction", bridgedOnly, (e) => reactions.takenBackOnMatrix(e), (e) => redactions.fromMatrix(e))
    .onMatrix("room-state", bridgedOnly, (e) => roomMetadataToXmpp.handle(e))
    .onMatrix("typing", (e) => typing.fromMatrix(e))
    .onMatrix("receipt", (e) => receipts.fromMatrix(e))
    .onMatrix("presence", (e) => presenceToXmpp.handle(e))
    // XMPP → Matrix.
    .onXmpp("message", (e) => toMatrix.message(e))
    .onXmpp("occupant", (e) => kicks.fromXmpp(e), (e) => toMatrix.occupant(e))
    .onXmpp("subject", (e) => toMatrix.subject(e))
    .onXmpp("moderation", (e) => redactions.moderatedOnXmpp(e))
    .onXmpp("reflection", (e) => toMatrix.reflection(e))
    .onXmpp("refused", (e) => toMatrix.refused(e))
    .onXmpp("room-changed", (e) => roomMetadataToMatrix.mucChanged(e.muc, e.avatarHash));

  const contactAvatars = contactAvatarThrottle(config, ghostProfiles, addressing, log);
  const contactPresence = { subscription: presenceToXmpp.onSubscription.bind(presenceToXmpp), availability: presenceToMatrix.handle.bind(presenceToMatrix) };
  const inbound = new XmppInbound(occupancy, peers, addressing, contactPresence, ingress.queueForMatrix.bind(ingress), async (xmppUser, hash) => contactAvatars.offer(xmppUser, hash), log.child({ module: "from-xmpp" }));
  connection.on("stanza", (stanza: Element) => {
    inbound.handle(stanza).catch((err: Error) => log.error({ err, stanza: stanza.toString().slice(0, 500) }, "could not take in a stanza"));
  });
  connection.on("offline", () => occupancy.onConnectionLost());

  try {
    await store.connect().catch((err: Error) => {
      throw new Error(`cannot reach Redis at ${config.redis.url.replace(/\/\/[^@]*@/, "//***@")}: ${err.message}`, { cause: err });
    });
    await homeserver.start();
    log.info({ bot: botUserId }, "homeserver reached, bot user ready");

    answerServiceQueries(connection, { name: SOFTWARE_NAME, version: SOFTWARE_VERSION, isPuppet: (jid) => isPuppet(jid, addressing) });
    answerPuppetVcards(connection, (jid) => isPuppet(jid, addressing), (jid) => puppetProfiles.cardOf(jid), xmppLog);
    await connection.start();
    // Every time the connection comes (back) up, puppets go back into the MUCs they were in, and ask their
    // subscribers for the presence missed while away.
    const rejoin = (): void => {
      occupancy.rejoinAll().catch((err: Error) => log.error({ err }, "rejoining MUCs failed"));
      presenceToXmpp.probeSubscribers().catch((err: Error) => log.error({ err }, "probing presence subscribers failed"));
    };
    connection.on("online", rejoin);
    rejoin();

    const checks = healthChecks(homeserver, store, connection);
    servers.push(await listen(appserviceApp(config, registration.hs_token, ingress, portals, checks, log), config.appservice.bindAddress, config.appservice.port));
    if (config.media.matrixToXmpp === "link") {
      if (!config.media.publicUrl) log.warn({ publicUrl: mediaPublicUrl }, "media.publicUrl is not set: links to Matrix files work only where this address does");
      servers.push(await listen(mediaApp(fileUrls, media, log.child({ module: "media" })), config.media.bindAddress, config.media.port));
    }
    const pingMs = await homeserver.ping();
    log.info({ pingMs, port: config.appservice.port }, "the homeserver reaches the appservice listener");

    if (config.metrics.enabled) servers.push(await listen(statusAppOf(registry, homeserver, store, checks), config.metrics.bindAddress, config.metrics.port));
    const resumed = await ingress.resume();
    if (resumed > 0) log.info({ lanes: resumed }, "resuming queued work from before the restart");
  } catch (err) {
    await Promise.allSettled([...servers.map(closeServer), connection.stop(), store.close()]);
    throw err;
  }

  const fatal = new Promise<Error>((resolve) => connection.once("fatal", resolve));
  log.info("bridge running");

  return {
    fatal,
    reload(next) {
      permissions = next.bridge.permissions;
      configureLibraryLogging(next.logging.level);
    },
    async stop() {
      log.info("shutting down");
      await Promise.allSettled(servers.map(closeServer));
      await ingress.stop();
      presenceToXmpp.stop();
      presenceToMatrix.stop();
      contactAvatars.stop();
      await occupancy.leaveAllForShutdown();
      await connection.stop();
      await store.close();
      log.info("stopped");
    },
  };
}
