import type { Logger } from "../log.js";
import type { FencedError, LeaseStore } from "../store/lease.js";

/** Told when this instance becomes active or goes on standby, and of each takeover (for the metrics). */
export interface RoleObserver {
  active(isActive: boolean): void;
  tookOver(): void;
}

export interface ActiveStandbyDeps {
  store: LeaseStore;
  /** This instance's name in the lease and the logs. */
  instanceId: string;
  leaseMs: number;
  /** Starts the work only the active instance does: the component connection, draining the outboxes. */
  takeOver(): Promise<void>;
  /** Stops it at once; what is in the outboxes stays for whoever takes over. */
  standDown(): Promise<void>;
  /**
   * Called at each renewal: other instances may have appended to the outboxes (a standby storing the XMPP
   * input it held through a Redis outage, a frozen instance what it read on waking) without waking this one.
   */
  renewed?(): void;
  /** Told of a takeover that failed: the lease is given up and tried for again. */
  takeOverFailed?(err: unknown): void;
  observer?: RoleObserver;
  log: Logger;
}

/** Why a homeserver transaction is refused by a standby: it is sent again, to whichever instance is active then. */
export class StandbyError extends Error {
  constructor() {
    super("this instance is on standby");
    this.name = "StandbyError";
  }
}

/**
 * Decides whether this instance is active or on standby, from a lease in the store that several
 * instances compete for. The active one renews it every third of its time to live; a standby tries to
 * take it just as often, and takes over once the active one stopped renewing it. One timer does both.
 *
 * An active instance that could not renew the lease for two thirds of its time to live steps down
 * before it expires, so it never works beside the one taking over (timers may be late: the last third
 * is their margin). A write refused for a newer fencing token means another instance is active
 * already: this one steps down at once.
 */
export class ActiveStandby {
  private token: number | undefined;
  /** When the last renewal that succeeded was sent: the lease lasts at least leaseMs from then. */
  private renewedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  /** A tick or a change of role under way: the timer does not start another meanwhile. */
  private busy: Promise<void> | undefined;

  constructor(private readonly deps: ActiveStandbyDeps) {
    deps.store.onFenced((err) => this.fenced(err));
  }

  isActive(): boolean {
    return this.token !== undefined;
  }

  /** Tries for the lease once (taking over if it is free), then keeps at it every third of its time to live. */
  async start(): Promise<void> {
    this.deps.observer?.active(false);
    await this.run();
    this.timer = setInterval(() => this.onTimer(), this.deps.leaseMs / 3);
  }

  /** Stops competing; an active instance gives the lease up, so a standby takes over without waiting for it to expire. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    // A store that does not answer at all must not hold the shutdown up: the lease then expires by itself.
    await Promise.race([this.busy, new Promise((resolve) => setTimeout(resolve, this.deps.leaseMs).unref())]);
    const token = this.token;
    if (token === undefined) return;
    this.token = undefined;
    await this.deps.store.releaseLease(this.deps.instanceId, token).catch((err: unknown) => this.deps.log.warn({ err }, "could not give the lease up; it expires by itself"));
    this.deps.log.info({ instance: this.deps.instanceId, token }, "gave the lease up");
  }

  private onTimer(): void {
    if (!this.busy) void this.run();
    // A renewal that does not come back in time failed: the lease may pass on before it does.
    else if (this.isActive() && this.overdue()) void this.toStandby("the lease could not be renewed in time");
  }

  private run(): Promise<void> {
    this.busy = this.tick().finally(() => (this.busy = undefined));
    return this.busy;
  }

  private overdue(): boolean {
    return Date.now() - this.renewedAt >= (this.deps.leaseMs * 2) / 3;
  }

  private async tick(): Promise<void> {
    const { store, instanceId, leaseMs, log } = this.deps;
    const sentAt = Date.now();
    const held = this.token;
    try {
      if (held === undefined) {
        const token = await store.acquireLease(instanceId, leaseMs);
        if (token !== undefined) await this.toActive(token, sentAt);
      } else if (await store.renewLease(instanceId, held, leaseMs)) {
        if (this.token !== held) return;
        this.renewedAt = sentAt;
        this.deps.renewed?.();
      } else {
        await this.toStandby("another instance holds the lease");
      }
    } catch (err) {
      if (this.token === undefined) log.debug({ err }, "could not try for the lease");
      else if (this.overdue()) await this.toStandby("the lease could not be renewed in time");
      else log.warn({ err }, "could not renew the lease; trying again");
    }
  }

  private async toActive(token: number, acquiredAt: number): Promise<void> {
    const { store, instanceId, log } = this.deps;
    this.token = token;
    this.renewedAt = acquiredAt;
    store.fence(token);
    log.info({ instance: instanceId, token }, "acquired the lease: this instance is active");
    this.deps.observer?.active(true);
    this.deps.observer?.tookOver();
    try {
      await this.deps.takeOver();
    } catch (err) {
      log.error({ err }, "could not take over; giving the lease up to try again");
      this.deps.takeOverFailed?.(err);
      await this.toStandby("the takeover failed");
      await store.releaseLease(instanceId, token).catch(() => undefined);
    }
  }

  private async toStandby(reason: string): Promise<void> {
    if (this.token === undefined) return;
    const token = this.token;
    this.token = undefined;
    this.deps.log.warn({ instance: this.deps.instanceId, token, reason }, "lost the lease: this instance is on standby");
    this.deps.observer?.active(false);
    await this.deps.standDown().catch((err: unknown) => this.deps.log.error({ err }, "standing down failed"));
  }

  private fenced(err: FencedError): void {
    if (err.token === this.token) void this.toStandby("a write was refused for a newer fencing token");
  }
}
