import { AppServiceRegistration, Bridge, Logger as LibraryLogger, type Intent } from "matrix-appservice-bridge";
import type { Logger } from "../log.js";
import type { Registration } from "./registration.js";
import { asError } from "../core/errors.js";
import { BoundedMembershipCache } from "./library-membership-cache.js";

/** The homeserver cannot be used: unreachable, or it refused the bridge. */
export class HomeserverError extends Error {
  constructor(message: string, readonly url: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "HomeserverError";
  }
}

/**
 * The Matrix libraries log every failed request at error level, expected ones (a 404 when asking
 * for a membership) included, while the bridge logs what matters with its own context. Their own
 * logs are shown only when the bridge logs at debug level.
 */
export function configureLibraryLogging(level: string): void {
  LibraryLogger.configure({ console: level === "debug" || level === "trace" ? "warn" : "off", json: true });
}

const PING_ATTEMPTS = 5;

export interface HomeserverOptions {
  url: string;
  domain: string;
  registration: Registration;
  botDisplayName: string;
}

interface MatrixErrorBody {
  errcode?: string;
  error?: string;
}

const errorText = (err: unknown): string => {
  const body = (err as { body?: MatrixErrorBody }).body;
  if (body?.errcode) return `${body.errcode}: ${body.error ?? ""}`;
  return asError(err).message;
};

/**
 * The bridge's side of the homeserver: matrix-appservice-bridge gives intents (acting as the bot or a
 * ghost) and its Prometheus gauges; the Application Service API itself is served by appservice-api.ts.
 */
export class Homeserver {
  readonly bridge: Bridge;
  readonly botUserId: string;

  /** What the library's intents know of their users' memberships, bounded. */
  private readonly memberships = new BoundedMembershipCache();

  constructor(private readonly options: HomeserverOptions, private readonly log: Logger) {
    const registration = AppServiceRegistration.fromObject(options.registration);
    this.bridge = new Bridge({
      homeserverUrl: options.url,
      domain: options.domain,
      registration,
      controller: { onEvent: () => undefined },
      disableStores: true,
      disableContext: true,
      // Ghost IDs are already valid (docs/addressing.md); the library's own escaping would turn "/" into "=2f"
      // and act as a user the bridge never meant.
      escapeUserIds: false,
      membershipCache: this.memberships,
    });
    this.botUserId = `@${options.registration.sender_localpart}:${options.domain}`;
  }

  get bot(): Intent {
    return this.bridge.getIntent();
  }

  intent(userId: string): Intent {
    return this.bridge.getIntent(userId);
  }

  /** A user joined a room by a request of the bridge's own: the library's intents need not join it again. */
  joinedBy(userId: string, roomId: string): void {
    this.memberships.setMemberEntry(roomId, userId, "join", {});
  }

  /** Live check for /health: the client-server API answers. */
  async isUp(): Promise<boolean> {
    const res = await fetch(new URL("/_matrix/client/versions", this.options.url), { signal: AbortSignal.timeout(2500) });
    return res.ok;
  }

  /** Checks the homeserver answers and knows the bridge, and makes sure the bot user exists. */
  async start(): Promise<void> {
    try {
      const res = await fetch(new URL("/_matrix/client/versions", this.options.url), { signal: AbortSignal.timeout(10_000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
    } catch (err) {
      throw new HomeserverError(`cannot reach the homeserver at ${this.options.url}: ${asError(err).message}`, this.options.url, { cause: err });
    }
    await this.bridge.initialise();
    try {
      // Forced: Synapse knows the sender implicitly but gives it no profile until it is registered.
      await this.bot.ensureRegistered(true);
      await this.bot.ensureProfile(this.options.botDisplayName);
    } catch (err) {
      throw new HomeserverError(
        `the homeserver at ${this.options.url} refused the bridge bot ${this.botUserId} (${errorText(err)}); is the registration file listed in its app_service_config_files, with the same as_token?`,
        this.options.url,
        { cause: err },
      );
    }
  }

  /**
   * Asks the homeserver to ping the bridge (POST /_matrix/client/v1/appservice/{id}/ping), which proves
   * that it can reach the bridge's appservice listener. Returns the round trip in milliseconds.
   */
  async ping(): Promise<number> {
    const path = `/_matrix/client/v1/appservice/${encodeURIComponent(this.options.registration.id)}/ping`;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = (await this.bot.matrixClient.doRequest("POST", path, null, { transaction_id: `startup-${Date.now()}` })) as { duration_ms?: number };
        return result.duration_ms ?? 0;
      } catch (err) {
        // Synapse may first try a stale keep-alive connection to an earlier run of the bridge.
        if (attempt < PING_ATTEMPTS && (err as { body?: MatrixErrorBody }).body?.errcode === "M_CONNECTION_FAILED") {
          this.log.info({ attempt, err: errorText(err) }, "the homeserver could not ping the bridge yet; trying again");
          await new Promise((resolve) => setTimeout(resolve, 1000));
          continue;
        }
        throw this.pingError(err);
      }
    }
  }

  private pingError(err: unknown): HomeserverError {
    return new HomeserverError(
      `the homeserver at ${this.options.url} could not ping the bridge at ${this.options.registration.url ?? "(no url)"}: ${errorText(err)}`,
      this.options.url,
      { cause: err },
    );
  }
}
