import { hostname } from "node:os";
import type { Registry } from "prom-client";
import type { BridgeConfig } from "../config/schema.js";
import { roleMetrics } from "../http/role-metrics.js";
import type { Logger } from "../log.js";
import type { Homeserver } from "../matrix/homeserver.js";
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
  /** Pinged after a takeover, which makes a homeserver that holds transactions for the bridge send them at once. */
  homeserver: Pick<Homeserver, "ping">;
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
export function instanceRole({ config, store, connection, homeserver, ingress, presenceToMatrix, mucHistory, registry, fatal, log }: RoleParts): InstanceRole {
  const observer = roleMetrics(registry);
  /** Whether start() is over: at start the bridge pings the homeserver itself, once its listener is up. */
  let started = false;
  const takeOver = async (): Promise<void> => {
    mucHistory.holdUntilRejoined();
    await connection.start();
    const resumed = await ingress.resume();
    if (resumed > 0) log.info({ lanes: resumed }, "resuming queued work");
    // Synapse, having failed to reach the instance that died, retries with growing delays (up to minutes);
    // a ping makes it send what it holds now, to this instance.
    if (started) await homeserver.ping().catch((err: unknown) => log.warn({ err }, "the homeserver could not ping this instance after the takeover; it sends what it holds at its next retry"));
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
      started = true;
      if (!role.isActive()) log.info("another instance holds the lease: this instance is on standby");
    },
    onStandby: () => !role.isActive(),
    stop: () => role.stop(),
  };
}
