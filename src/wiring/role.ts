import { hostname } from "node:os";
import type { Registry } from "prom-client";
import type { BridgeConfig } from "../config/schema.js";
import { roleMetrics } from "../http/role-metrics.js";
import type { Logger } from "../log.js";
import { ActiveStandby } from "../pipeline/active-standby.js";
import type { PresenceToMatrix } from "../pipeline/capabilities/presence/presence-to-matrix.js";
import type { Ingress } from "../pipeline/ingress.js";
import type { RedisStore } from "../store/redis-store.js";
import { ComponentAuthError, type ComponentConnection } from "../xmpp/component-connection.js";
import type { MucHistory } from "../xmpp/muc-history.js";

export interface RoleParts {
  config: BridgeConfig;
  store: RedisStore;
  connection: ComponentConnection;
  ingress: Ingress;
  presenceToMatrix: PresenceToMatrix;
  /** Holds rooms' messages from a takeover until the rooms are entered again; lets them go on standby. */
  mucHistory: Pick<MucHistory, "holdUntilRejoined" | "stopHolding">;
  registry: Registry;
  /** Told of a failure the bridge cannot live with: the component secret refused at a takeover. */
  fatal(err: Error): void;
  log: Logger;
}

/** This instance's part: always active on its own, or active or standby by the lease with `ha.enabled`. */
export interface InstanceRole {
  /** Becomes active (or, with `ha.enabled`, tries to, and otherwise waits on standby). */
  start(): Promise<void>;
  onStandby(): boolean;
  /** With `ha.enabled`, gives the lease up; the caller stops the parts. */
  stop(): Promise<void>;
}

/** What only the active instance does (hold the component connection, drain the outboxes), and when it does it. */
export function instanceRole({ config, store, connection, ingress, presenceToMatrix, mucHistory, registry, fatal, log }: RoleParts): InstanceRole {
  const observer = roleMetrics(registry);
  const takeOver = async (): Promise<void> => {
    mucHistory.holdUntilRejoined();
    await connection.start();
    const resumed = await ingress.resume();
    if (resumed > 0) log.info({ lanes: resumed }, "resuming queued work");
  };
  if (!config.ha.enabled) {
    return {
      start: async () => (await takeOver(), observer.active(true)),
      onStandby: () => false,
      stop: async () => undefined,
    };
  }
  const role = new ActiveStandby({
    store,
    instanceId: config.ha.instanceId ?? `${hostname()}:${process.pid}`,
    leaseMs: config.ha.leaseSeconds * 1000,
    takeOver,
    standDown: async () => {
      presenceToMatrix.forgetContacts();
      await Promise.all([ingress.pause(), connection.stop()]);
      await mucHistory.stopHolding();
    },
    renewed: () => void ingress.wakePending().catch((err: unknown) => log.debug({ err }, "could not list the lanes that hold entries")),
    takeOverFailed: (err) => err instanceof ComponentAuthError && fatal(err),
    observer,
    log: log.child({ module: "lease" }),
  });
  return {
    start: async () => {
      await role.start();
      if (!role.isActive()) log.info("another instance holds the lease: this instance is on standby");
    },
    onStandby: () => !role.isActive(),
    stop: () => role.stop(),
  };
}
