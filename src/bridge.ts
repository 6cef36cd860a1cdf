import { createServer, type Server } from "node:http";
import express from "express";
import { Registry } from "prom-client";
import type { BridgeConfig } from "./config/schema.js";
import type { Logger } from "./log.js";
import { appserviceRouter, type Transaction } from "./matrix/appservice-api.js";
import { Homeserver } from "./matrix/homeserver.js";
import type { Registration } from "./matrix/registration.js";
import { statusApp } from "./http/status-server.js";
import { OutboxWorker } from "./pipeline/outbox.js";
import { RedisStore } from "./store/redis-store.js";
import { ComponentLink } from "./xmpp/component-link.js";
import { answerServiceQueries } from "./xmpp/service-info.js";
import { SOFTWARE_NAME, SOFTWARE_VERSION } from "./version.js";

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

  const outbox = new OutboxWorker(
    store,
    async (lane, payload) => {
      log.debug({ lane, bytes: payload.length }, "outbox entry");
    },
    log.child({ module: "outbox" }),
  );

  try {
    await store.connect().catch((err: Error) => {
      throw new Error(`cannot reach Redis at ${config.redis.url.replace(/\/\/[^@]*@/, "//***@")}: ${err.message}`, { cause: err });
    });
    await homeserver.start();
    log.info({ bot: homeserver.botUserId }, "homeserver reached, bot user ready");

    answerServiceQueries(link, { name: SOFTWARE_NAME, version: SOFTWARE_VERSION, isPuppet: () => false });
    await link.start();

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
            const fresh = await store.acceptTransaction(txn.txnId, entries);
            if (!fresh) log.debug({ txnId: txn.txnId }, "transaction already accepted");
            else for (const lane of new Set(entries.map((e) => e.lane))) outbox.wake(lane);
          },
          onUserQuery: async () => false,
          onAliasQuery: async () => false,
          onPing: (transactionId) => log.debug({ transactionId }, "homeserver ping"),
        },
        log.child({ module: "appservice" }),
        config.appservice.maxBodyBytes,
      ),
    );
    servers.push(await listen(appserviceApp, config.appservice.bindAddress, config.appservice.port));
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
      await link.stop();
      await store.close();
      log.info("stopped");
    },
  };
}
