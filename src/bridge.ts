import type { Server } from "node:http";
import { Registry } from "prom-client";
import type { BridgeConfig } from "./config/schema.js";
import { FileUrls } from "./core/file-urls.js";
import { isPuppet, roomRefOfGatewayJid } from "./core/identity.js";
import { mediaApp } from "./http/media-server.js";
import type { Logger } from "./log.js";
import { Homeserver, configureLibraryLogging } from "./matrix/homeserver.js";
import { MatrixMedia } from "./matrix/media.js";
import type { Registration } from "./matrix/registration.js";
import { RedisStore } from "./store/redis-store.js";
import { ComponentConnection } from "./xmpp/component-connection.js";
import { answerServiceQueries } from "./xmpp/service-info.js";
import { answerArchiveQueries, answerModerationRequests } from "./xmpp/gateway-stanzas.js";
import { takeInStanzas } from "./xmpp/inbound.js";
import { answerPuppetVcards } from "./xmpp/vcard.js";
import { SOFTWARE_NAME, SOFTWARE_VERSION } from "./version.js";
import { statusApp } from "./http/status-server.js";
import { provisioningApp } from "./http/provisioning-api.js";
import { healthChecks } from "./wiring/adapters.js";
import { appserviceApp, closeServer, listen } from "./wiring/listeners.js";
import { buildPipeline } from "./wiring/pipeline.js";
import { instanceRole } from "./wiring/role.js";

export interface RunningBridge {
  stop(): Promise<void>;
  /** Applies what may change while running (bridge.permissions, the Matrix libraries' logging); the rest needs a restart. */
  reload(config: BridgeConfig): void;
  /** Resolves when a part the bridge cannot live without failed for good after start-up. */
  readonly fatal: Promise<Error>;
}

/** Wires the adapters to the pipeline and starts them in the order that gives the clearest errors. */
export async function startBridge(config: BridgeConfig, registration: Registration, log: Logger): Promise<RunningBridge> {
  configureLibraryLogging(config.logging.level);
  const registry = new Registry();
  const store = new RedisStore(config.redis, log.child({ module: "store" }));
  const homeserverOptions = { url: config.homeserver.url, domain: config.homeserver.domain, registration, botDisplayName: config.bridge.botDisplayName };
  const homeserver = new Homeserver(homeserverOptions, log.child({ module: "matrix" }));
  const connection = new ComponentConnection(config.xmpp, log.child({ module: "xmpp" }));
  const media = new MatrixMedia(config.homeserver.url, registration.as_token);
  const mediaPublicUrl = config.media.publicUrl ?? `http://${config.media.bindAddress}:${config.media.port}`;
  const fileUrls = new FileUrls(registration.as_token, mediaPublicUrl, config.media.linkDays * 24 * 3600 * 1000);
  const pipeline = buildPipeline({ config, store, homeserver, connection, media, fileUrls, registry, log });
  const { addressing, botUserId, gateway, ingress, portals, provisioning, thirdParty, occupancy, puppetProfiles, presenceToXmpp, presenceToMatrix, contactAvatars, inbound, setPermissions } = pipeline;
  const checks = healthChecks(homeserver, store, connection);
  const servers: Server[] = [];
  let failed: (err: Error) => void = () => undefined;
  const fatal = new Promise<Error>((resolve) => (failed = resolve));

  takeInStanzas(connection, inbound, log);
  connection.on("offline", () => occupancy.onConnectionLost());
  // Every time the connection comes (back) up, puppets go back into the MUCs they were in, and tell their
  // subscribers their presence and ask for theirs, either of which may have changed while away.
  connection.on("online", () => {
    occupancy.rejoinAll().catch((err: unknown) => log.error({ err }, "rejoining MUCs failed"));
    presenceToXmpp.greetSubscribers().catch((err: unknown) => log.error({ err }, "greeting presence subscribers failed"));
  });

  const role = instanceRole({ config, store, connection, homeserver, ingress, presenceToMatrix, mucHistory: inbound, registry, fatal: failed, log });
  const onStandby = () => role.onStandby();

  try {
    await store.connect().catch((err: Error) => {
      throw new Error(`cannot reach Redis at ${config.redis.url.replace(/\/\/[^@]*@/, "//***@")}: ${err.message}`, { cause: err });
    });
    await store.migrateLayout();
    await homeserver.start();
    log.info({ bot: botUserId }, "homeserver reached, bot user ready");
    // Listening before the takeover: what this instance does as it starts (ghosts' presence, puppets back in
    // their MUCs) makes the homeserver push transactions at once. One it cannot deliver marks the bridge down,
    // and Synapse then drops the presence, typing and receipts of everyone until its retry gets through.
    servers.push(await listen(appserviceApp(config, registration.hs_token, ingress, portals, thirdParty, checks, onStandby, log), config.appservice.bindAddress, config.appservice.port));

    const puppet = (jid: string) => isPuppet(jid, addressing);
    const isGatewayRoom = (jid: string) => roomRefOfGatewayJid(jid, addressing) !== undefined;
    const publicRooms = config.gateway.enabled ? (max: number, after: string | undefined) => gateway.publicRooms(max, after) : undefined;
    answerServiceQueries(connection, { name: SOFTWARE_NAME, version: SOFTWARE_VERSION, isPuppet: puppet, isGatewayRoom, isOccupant: (from, to) => gateway.isOccupant(from, to), describeRoom: (room) => gateway.describe(room), ...(publicRooms ? { publicRooms } : {}) });
    answerModerationRequests(connection, isGatewayRoom, (from, room, request) => gateway.moderate(from, room, request));
    answerArchiveQueries(connection, isGatewayRoom, (from, room, query) => gateway.archive(from, room, query));
    answerPuppetVcards(connection, puppet, (jid) => puppetProfiles.cardOf(jid), log.child({ module: "xmpp" }));
    await role.start();

    if (config.media.matrixToXmpp === "link") {
      if (!config.media.publicUrl) log.warn({ publicUrl: mediaPublicUrl }, "media.publicUrl is not set: links to Matrix files work only where this address does");
      servers.push(await listen(mediaApp(fileUrls, media, log.child({ module: "media" })), config.media.bindAddress, config.media.port));
    }
    const pingMs = await homeserver.ping();
    log.info({ pingMs, port: config.appservice.port }, "the homeserver reaches the appservice listener");

    const { enabled, secret, requestsPerMinute, bindAddress, port } = config.provisioning;
    if (enabled && secret) {
      servers.push(await listen(provisioningApp({ secret, requestsPerMinute }, provisioning, log.child({ module: "provisioning" })), bindAddress, port));
      log.info({ bindAddress, port }, "provisioning API listening");
    }
    if (config.metrics.enabled) servers.push(await listen(statusApp(registry, checks, onStandby), config.metrics.bindAddress, config.metrics.port));
  } catch (err) {
    await Promise.allSettled([...servers.map(closeServer), role.stop(), connection.stop(), store.close()]);
    throw err;
  }

  connection.once("fatal", failed);
  log.info("bridge running");

  return {
    fatal,
    reload(next) {
      setPermissions(next.bridge.permissions);
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
      await role.stop();
      await store.close();
      log.info("stopped");
    },
  };
}
