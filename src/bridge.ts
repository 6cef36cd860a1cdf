import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import express from "express";
import { Registry } from "prom-client";
import type { BridgeConfig } from "./config/schema.js";
import type { Logger } from "./log.js";
import { appserviceRouter, type MatrixEvent, type Transaction } from "./matrix/appservice-api.js";
import type { Element } from "@xmpp/xml";
import { Homeserver, configureLibraryLogging } from "./matrix/homeserver.js";
import type { Registration } from "./matrix/registration.js";
import { statusApp } from "./http/status-server.js";
import { OutboxWorker } from "./pipeline/outbox.js";
import { RedisStore } from "./store/redis-store.js";
import { ComponentLink } from "./xmpp/component-link.js";
import { answerServiceQueries } from "./xmpp/service-info.js";
import { ghostUserId, isPuppet, type AddressingConfig } from "./core/identity.js";
import type { SharedFile, XmppEvent } from "./core/model.js";
import { fileTransferCounter } from "./http/file-metrics.js";
import { shareByLink, shareByUpload, uploadServiceFinder } from "./pipeline/files-to-xmpp.js";
import { MatrixRooms } from "./matrix/rooms.js";
import { MatrixMedia } from "./matrix/media.js";
import { MediaLinks } from "./http/media-links.js";
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
import { SignalsToXmpp } from "./pipeline/signals-to-xmpp.js";
import { PresenceToMatrix } from "./pipeline/presence-to-matrix.js";
import { PresenceToXmpp } from "./pipeline/presence-to-xmpp.js";
import { XmppToMatrix } from "./pipeline/xmpp-to-matrix.js";
import { FilesToMatrix } from "./pipeline/files-to-matrix.js";
import { LatestWinsThrottle } from "./pipeline/throttle.js";
import { fetchRemoteFile } from "./media/remote-file.js";
import { XmppInbound, type QueueForMatrix } from "./xmpp/inbound.js";
import { fetchXmppProfile } from "./xmpp/avatars.js";
import { describeMuc } from "./xmpp/muc-directory.js";
import { MucOccupancy } from "./xmpp/muc-occupancy.js";
import { puppetAddress } from "./xmpp/puppet-address.js";
import { answerPuppetVcards, readVcard, requestVcard } from "./xmpp/vcard.js";
import { PeerFeatures } from "./xmpp/peer-features.js";
import { SOFTWARE_NAME, SOFTWARE_VERSION } from "./version.js";

/**
 * What identifies a transaction: its ID and what it holds. Synapse on SQLite counts transaction IDs
 * from 1 again after a restart, so an ID alone would make new transactions look like repeats; a real
 * repeat carries the same events.
 */
function transactionKey(txn: Transaction): string {
  const digest = createHash("sha256");
  for (const event of [...txn.events, ...txn.ephemeral]) digest.update(event.event_id ?? JSON.stringify(event)).update("\n");
  return `${txn.txnId}:${digest.digest("base64url").slice(0, 22)}`;
}

export interface RunningBridge {
  stop(): Promise<void>;
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

/** Wires the adapters together and starts them in the order that gives the clearest errors. */
export async function startBridge(config: BridgeConfig, registration: Registration, log: Logger): Promise<RunningBridge> {
  configureLibraryLogging(config.logging.level);
  const registry = new Registry();
  const store = new RedisStore(config.redis.url, config.redis.keyPrefix, log.child({ module: "store" }));
  const homeserver = new Homeserver(
    {
      url: config.homeserver.url,
      domain: config.homeserver.domain,
      registration,
      botDisplayName: config.bridge.botDisplayName,
      metricsRegistry: registry,
    },
    log.child({ module: "matrix" }),
  );
  const link = new ComponentLink(config.xmpp, log.child({ module: "xmpp" }));
  const servers: Server[] = [];

  const addressing: AddressingConfig = {
    homeserverDomain: config.homeserver.domain,
    componentDomain: config.xmpp.domain,
    userPrefix: config.bridge.userPrefix,
    aliasPrefix: config.bridge.aliasPrefix,
  };
  const messageMapSeconds = config.bridge.messageMapDays * 24 * 3600;
  const rooms = new MatrixRooms(homeserver);
  const media = new MatrixMedia(config.homeserver.url, registration.as_token);
  const mediaPublicUrl = config.media.publicUrl ?? `http://${config.media.bindAddress}:${config.media.port}`;
  const links = new MediaLinks(registration.as_token, mediaPublicUrl, config.media.linkDays * 24 * 3600 * 1000);
  const countedTransfer = fileTransferCounter(registry);
  const shareFile = countedTransfer(
    "to_xmpp",
    config.media.matrixToXmpp === "link"
      ? shareByLink(links)
      : shareByUpload({
          media,
          link,
          // The component's domain is a subdomain of the XMPP server's, whose services it lists.
          service: uploadServiceFinder(link, config.media.uploadService, config.xmpp.domain.split(".").slice(1).join(".")),
          puppetOf: (matrixUser) => puppetAddress(matrixUser, addressing),
          maxBytes: config.media.maxBytes,
          timeoutMs: config.media.timeoutSeconds * 1000,
        }),
  );
  const profilesLog = log.child({ module: "profiles" });
  const matrixAvatars = new MatrixAvatars(store, media, profilesLog);
  const avatarUploads = new AvatarUploads(store, media, profilesLog);
  // Closures over what is built below: the puppets' avatars and the MUC presences that announce them need each other.
  const puppetProfiles: PuppetProfiles = new PuppetProfiles(rooms, matrixAvatars, (u): boolean => toXmpp.bridges(u), async (u): Promise<void> => void (await Promise.all([occupancy.refreshPresence(u), presenceToXmpp.announce(u)])), addressing, profilesLog);
  const occupancy: MucOccupancy = new MucOccupancy(link, store, (u) => puppetAddress(u, addressing), (u): Promise<string | undefined> => puppetProfiles.avatarHashOf(u), log.child({ module: "muc" }));
  const peers = new PeerFeatures(link, log.child({ module: "xmpp" }));
  const toXmpp: MatrixToXmpp = new MatrixToXmpp(
    store,
    rooms,
    link,
    occupancy,
    addressing,
    homeserver.botUserId,
    messageMapSeconds,
    config.bridge.permissions,
    (jid, feature, from) => peers.supports(jid, feature, from),
    shareFile,
    log.child({ module: "to-xmpp" }),
  );
  const signals = new SignalsToXmpp(store, link, occupancy, addressing, homeserver.botUserId);
  const fetchLimits = {
    maxBytes: config.media.maxBytes,
    timeoutMs: config.media.timeoutSeconds * 1000,
    maxRedirects: config.media.maxRedirects,
    allowedHosts: config.media.allowedHosts,
  };
  const files = new FilesToMatrix(
    countedTransfer("to_matrix", (file: SharedFile) => fetchRemoteFile(file.url, fetchLimits, file.mediaType ? { mediaType: file.mediaType } : undefined)),
    (file, ghost) => media.upload(file, ghost),
    log.child({ module: "to-matrix" }),
  );
  const xmppLog = log.child({ module: "xmpp" });
  const lookUpMuc = (muc: string) => describeMuc(link, muc, xmppLog);
  const ghostProfiles = new GhostProfiles(store, rooms, avatarUploads, ({ jid, from }) => fetchXmppProfile(link, jid, xmppLog, from), profilesLog);
  const roomMetadataToMatrix = new RoomMetadataToMatrix(
    store,
    rooms,
    lookUpMuc,
    async (muc) => {
      const vcard = await requestVcard(link, muc, xmppLog);
      return vcard ? readVcard(vcard) : undefined;
    },
    avatarUploads,
    homeserver.botUserId,
    log.child({ module: "room-metadata" }),
  );
  const roomMetadataToXmpp = new RoomMetadataToXmpp(store, rooms, link, matrixAvatars, toXmpp, addressing, messageMapSeconds, log.child({ module: "room-metadata" }));
  const toMatrix = new XmppToMatrix(store, rooms, addressing, messageMapSeconds, ghostProfiles, roomMetadataToMatrix, homeserver.botUserId, files, log.child({ module: "to-matrix" }));
  const presenceToXmpp = new PresenceToXmpp(store, rooms, link, addressing, homeserver.botUserId, config.presence, (u) => puppetProfiles.avatarHashOf(u), log.child({ module: "presence" }));
  const presenceToMatrix = new PresenceToMatrix(store, rooms, addressing, config.presence, log.child({ module: "presence" }));
  const queueForMatrix: QueueForMatrix = async (conversation, event, dedupKey) => {
    const entry = { lane: `xmpp:${conversation}`, payload: JSON.stringify(event) };
    if (dedupKey === undefined) await store.appendToOutbox(entry);
    else if (!(await store.appendToOutboxOnce(entry, dedupKey, messageMapSeconds))) return;
    outbox.wake(entry.lane);
  };
  const portals = new Portals(store, rooms, lookUpMuc, addressing, (muc) => queueForMatrix(muc, { kind: "room-changed", muc }), log.child({ module: "portals" }));
  const commands = new BotCommands({
    store,
    rooms,
    portals,
    occupancy,
    describeMuc: lookUpMuc,
    addressing,
    permissions: config.bridge.permissions,
    botUserId: homeserver.botUserId,
    log: log.child({ module: "commands" }),
  });

  // Lanes: "matrix:<room id>" holds homeserver events bound for XMPP, "xmpp:<conversation>" the reverse.
  const outbox = new OutboxWorker({
    store,
    handle: async (lane, payload) => {
      if (lane.startsWith("matrix:")) {
        const event = JSON.parse(payload) as MatrixEvent;
        await puppetProfiles.observe(event);
        if (!presenceToXmpp.handle(event) && !(await signals.handle(event)) && !(await commands.handle(event)) && !(await roomMetadataToXmpp.handle(event))) await toXmpp.handle(event);
      } else {
        await toMatrix.handle(JSON.parse(payload) as XmppEvent);
      }
    },
    // What goes to XMPP is written to a stream without answers: a batch leaves its lane once the server has read it.
    deliveryCheck: (lane) => {
      if (!lane.startsWith("matrix:")) return undefined;
      const mark = link.writeMark();
      return () => link.confirmWritten(mark);
    },
    log: log.child({ module: "outbox" }),
  });
  // Anyone may send presence to a puppet: a contact's avatar, which is part of it, is fetched at most
  // once per presence interval.
  const contactAvatars = new LatestWinsThrottle<string>(
    config.presence.minIntervalSeconds * 1000,
    async (xmppUser, hash) => void (await ghostProfiles.noteAvatarHash({ jid: xmppUser }, hash, ghostUserId(xmppUser, addressing), true)),
    (xmppUser, err) => log.warn({ xmppUser, err }, "could not bring a contact's avatar up to date"),
  );
  const inbound = new XmppInbound(
    occupancy,
    peers,
    addressing,
    {
      subscription: (type, from, matrixUser) => presenceToXmpp.onSubscription(type, from, matrixUser),
      availability: (presence, matrixUser) => presenceToMatrix.handle(presence, matrixUser),
    },
    queueForMatrix,
    async (xmppUser, hash) => contactAvatars.offer(xmppUser, hash),
    log.child({ module: "from-xmpp" }),
  );
  link.on("stanza", (stanza: Element) => {
    inbound.handle(stanza).catch((err: Error) => log.error({ err, stanza: stanza.toString().slice(0, 500) }, "could not take in a stanza"));
  });
  link.on("offline", () => occupancy.onLinkLost());

  try {
    await store.connect().catch((err: Error) => {
      throw new Error(`cannot reach Redis at ${config.redis.url.replace(/\/\/[^@]*@/, "//***@")}: ${err.message}`, { cause: err });
    });
    await homeserver.start();
    log.info({ bot: homeserver.botUserId }, "homeserver reached, bot user ready");

    answerServiceQueries(link, { name: SOFTWARE_NAME, version: SOFTWARE_VERSION, isPuppet: (jid) => isPuppet(jid, addressing) });
    answerPuppetVcards(link, (jid) => isPuppet(jid, addressing), (jid) => puppetProfiles.cardOf(jid), xmppLog);
    await link.start();
    // Every time the link comes (back) up, puppets go back into the MUCs they were in, and ask their
    // subscribers for the presence missed while away.
    const rejoin = (): void => {
      occupancy.rejoinAll().catch((err: Error) => log.error({ err }, "rejoining MUCs failed"));
      presenceToXmpp.probeSubscribers().catch((err: Error) => log.error({ err }, "probing presence subscribers failed"));
    };
    link.on("online", rejoin);
    rejoin();

    const appserviceApp = express();
    appserviceApp.disable("x-powered-by");
    appserviceApp.use(
      appserviceRouter(
        registration.hs_token,
        {
          onTransaction: async (txn: Transaction) => {
            const entries = [...txn.events, ...txn.ephemeral].map((event) => ({
              lane: `matrix:${event.room_id ?? "global"}`,
              payload: JSON.stringify(event),
            }));
            const fresh = await store.acceptTransaction(transactionKey(txn), entries);
            if (!fresh) log.debug({ txnId: txn.txnId }, "transaction already accepted");
            else for (const lane of new Set(entries.map((e) => e.lane))) outbox.wake(lane);
          },
          onUserQuery: async () => false,
          onAliasQuery: (alias) => portals.onAliasQuery(alias),
          onPing: (transactionId) => log.debug({ transactionId }, "homeserver ping"),
        },
        log.child({ module: "appservice" }),
        config.appservice.maxBodyBytes,
      ),
    );
    servers.push(await listen(appserviceApp, config.appservice.bindAddress, config.appservice.port));
    if (config.media.matrixToXmpp === "link") {
      if (!config.media.publicUrl) log.warn({ publicUrl: mediaPublicUrl }, "media.publicUrl is not set: links to Matrix files work only where this address does");
      servers.push(await listen(mediaApp(links, media, log.child({ module: "media" })), config.media.bindAddress, config.media.port));
    }
    const pingMs = await homeserver.ping();
    log.info({ pingMs, port: config.appservice.port }, "the homeserver reaches the appservice listener");

    if (config.metrics.enabled) {
      homeserver.bridge.registerBridgeGauges(async () => {
        const links = await store.links();
        return { matrixRoomConfigs: links.length, remoteRoomConfigs: links.length };
      });
      const checks = [
        { name: "redis", check: async () => (await store.ping(), true) },
        { name: "xmpp", check: async () => link.isOnline() },
        { name: "homeserver", check: () => homeserver.isUp() },
      ];
      servers.push(await listen(statusApp(registry, checks), config.metrics.bindAddress, config.metrics.port));
    }
    const resumed = await outbox.resume();
    if (resumed > 0) log.info({ lanes: resumed }, "resuming queued work from before the restart");
  } catch (err) {
    await Promise.allSettled([...servers.map(closeServer), link.stop(), store.close()]);
    throw err;
  }

  const fatal = new Promise<Error>((resolve) => link.once("fatal", resolve));
  log.info("bridge running");

  return {
    fatal,
    async stop() {
      log.info("shutting down");
      await Promise.allSettled(servers.map(closeServer));
      await outbox.stop();
      presenceToXmpp.stop();
      presenceToMatrix.stop();
      contactAvatars.stop();
      await occupancy.leaveAllForShutdown();
      await link.stop();
      await store.close();
      log.info("stopped");
    },
  };
}
