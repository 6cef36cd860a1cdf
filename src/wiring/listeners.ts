import { createServer, type Server } from "node:http";
import express from "express";
import type { BridgeConfig } from "../config/schema.js";
import type { Logger } from "../log.js";
import { appserviceRouter, type ThirdPartyHandlers, type Transaction } from "../matrix/appservice-api.js";
import { probeRoutes, type HealthCheck, type OnStandby } from "../http/status-server.js";
import { StandbyError } from "../pipeline/active-standby.js";
import type { Ingress } from "../pipeline/ingress.js";
import type { Portals } from "../pipeline/portals.js";

/** The HTTP listeners, and the Application Service API the bridge serves on one of them. */

export function listen(app: express.Express, host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer(app);
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}

export const closeServer = (server: Server): Promise<void> =>
  new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

/**
 * The Application Service API, answered by the bridge itself: transactions go to the ingress, unless this
 * instance is on standby (503: the homeserver sends them again). The probes (/live, /ready) are served
 * here too, so that they are there even with metrics turned off.
 */
export function appserviceApp(config: BridgeConfig, hsToken: string, ingress: Ingress, portals: Portals, thirdParty: ThirdPartyHandlers, checks: readonly HealthCheck[], onStandby: OnStandby, log: Logger): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.use(probeRoutes(checks, onStandby));
  const handlers = {
    onTransaction: async (txn: Transaction) => {
      if (onStandby()) throw new StandbyError();
      await ingress.acceptTransaction(txn.txnId, [...txn.events, ...txn.ephemeral]);
    },
    onUserQuery: async () => false,
    onAliasQuery: (alias: string) => portals.onAliasQuery(alias),
    onPing: (transactionId: string | undefined) => log.debug({ transactionId }, "homeserver ping"),
    thirdParty,
  };
  app.use(appserviceRouter(hsToken, handlers, log.child({ module: "appservice" }), config.appservice.maxBodyBytes));
  return app;
}
