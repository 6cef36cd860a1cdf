import { EventEmitter } from "node:events";
import { component, type Component } from "@xmpp/component";
import type { Element } from "@xmpp/xml";
import type { Logger } from "../log.js";

export interface ComponentLinkOptions {
  service: string;
  domain: string;
  password: string;
  maxReconnectDelaySeconds: number;
}

/** The XMPP server refused the component secret: retrying cannot help. */
export class ComponentAuthError extends Error {
  constructor(readonly service: string, readonly domain: string, readonly condition: string) {
    super(`the XMPP server at ${service} refused the component secret for ${domain} (${condition}); check xmpp.password and the server's component_secret`);
    this.name = "ComponentAuthError";
  }
}

export class ComponentUnreachableError extends Error {
  constructor(readonly service: string, cause: Error) {
    super(`cannot reach the XMPP server's component port at ${service}: ${cause.message}`, { cause });
    this.name = "ComponentUnreachableError";
  }
}

const AUTH_CONDITIONS = new Set(["not-authorized", "host-unknown", "improper-addressing"]);
const FIRST_RECONNECT_DELAY_MS = 1000;

interface StreamErrorLike extends Error {
  condition?: string;
  code?: string;
}

/**
 * The external component connection (XEP-0114). Emits "stanza" for every stanza that is not an iq
 * handled here, "online" and "offline". After start-up it reconnects with growing delays; a refused
 * secret stops it for good, since an endless silent retry helps nobody.
 */
export class ComponentLink extends EventEmitter {
  private readonly xmpp: Component;
  private online = false;
  private stopping = false;

  constructor(private readonly options: ComponentLinkOptions, private readonly log: Logger) {
    super();
    this.xmpp = component({ service: options.service, domain: options.domain, password: options.password });
    this.xmpp.reconnect.delay = FIRST_RECONNECT_DELAY_MS;
    this.xmpp.on("online", () => {
      this.online = true;
      this.xmpp.reconnect.delay = FIRST_RECONNECT_DELAY_MS;
      this.log.info({ domain: options.domain }, "component link online");
      this.emit("online");
    });
    this.xmpp.on("offline", () => this.markOffline());
    this.xmpp.on("disconnect", () => this.markOffline());
    this.xmpp.reconnect.on("reconnecting", () => {
      const max = options.maxReconnectDelaySeconds * 1000;
      this.log.info({ nextDelayMs: this.xmpp.reconnect.delay }, "reconnecting the component link");
      this.xmpp.reconnect.delay = Math.min(this.xmpp.reconnect.delay * 2, max);
    });
    this.xmpp.on("error", (err: StreamErrorLike) => this.onError(err));
    this.xmpp.on("stanza", (stanza: Element) => {
      if (!stanza.is("iq")) this.emit("stanza", stanza);
    });
  }

  get domain(): string {
    return this.options.domain;
  }

  isOnline(): boolean {
    return this.online;
  }

  /** Handlers for iq get/set requests; what nobody handles is answered with service-unavailable. */
  get iqCallee(): Component["iqCallee"] {
    return this.xmpp.iqCallee;
  }

  async request(iq: Element, timeoutMs = 10_000): Promise<Element> {
    return this.xmpp.iqCaller.request(iq, timeoutMs);
  }

  async send(stanza: Element): Promise<void> {
    if (!this.online) throw new ComponentOfflineError(this.options.service);
    await this.xmpp.send(stanza);
  }

  /** Connects once; rejects with a typed error when the server is unreachable or refuses the secret. */
  async start(): Promise<void> {
    const authFailure = new Promise<never>((_, reject) => this.once("auth-failed", reject));
    try {
      await Promise.race([this.xmpp.start(), authFailure]);
    } catch (err) {
      this.xmpp.reconnect.stop();
      await this.xmpp.stop().catch(() => undefined);
      if (err instanceof ComponentAuthError) throw err;
      const e = err as StreamErrorLike;
      if (e.condition && AUTH_CONDITIONS.has(e.condition)) {
        throw new ComponentAuthError(this.options.service, this.options.domain, e.condition);
      }
      throw new ComponentUnreachableError(this.options.service, e);
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.xmpp.reconnect.stop();
    await this.xmpp.stop().catch((err: Error) => this.log.debug({ err: err.message }, "component stop"));
    this.markOffline();
  }

  private markOffline(): void {
    if (!this.online) return;
    this.online = false;
    if (!this.stopping) this.log.warn("component link offline");
    this.emit("offline");
  }

  private onError(err: StreamErrorLike): void {
    if (err.condition && AUTH_CONDITIONS.has(err.condition)) {
      const authError = new ComponentAuthError(this.options.service, this.options.domain, err.condition);
      this.xmpp.reconnect.stop();
      this.emit("auth-failed", authError);
      // After start-up a refused secret is fatal too: the bridge cannot work without its link.
      if (this.listenerCount("fatal") > 0) this.emit("fatal", authError);
      return;
    }
    if (!this.stopping) this.log.warn({ err: err.message, code: err.code }, "component link error");
  }
}

export class ComponentOfflineError extends Error {
  constructor(readonly service: string) {
    super(`the component link to ${service} is offline`);
    this.name = "ComponentOfflineError";
  }
}
