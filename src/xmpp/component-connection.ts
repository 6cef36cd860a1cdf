import { EventEmitter } from "node:events";
import { component, type Component } from "@xmpp/component";
import xml, { type Element } from "@xmpp/xml";
import type { Logger } from "../log.js";
import { NS } from "./namespaces.js";
import { xmlSafe } from "./xml-guard.js";

export interface ComponentConnectionOptions {
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
/** How many of the last stanzas written are named in the log when the server closes the stream. */
const RECENT_STANZAS = 20;
const BARRIER_TIMEOUT_MS = 30_000;

interface StreamErrorLike extends Error {
  condition?: string;
  code?: string;
  text?: string;
}

/** What the log says of a stanza: never its content. */
interface StanzaSummary {
  name: string;
  type?: string;
  id?: string;
}

/** A point in the stream of stanzas written: see ComponentConnection.confirmWritten. */
export interface WriteMark {
  readonly session: number;
  readonly written: number;
}

interface Barrier {
  resolve(): void;
  reject(err: Error): void;
}

/**
 * The external component connection (XEP-0114). Emits "stanza" for every stanza that is not an iq
 * handled here, "online" and "offline". After start-up it reconnects with growing delays; a refused
 * secret stops it for good, since an endless silent retry helps nobody.
 */
export class ComponentConnection extends EventEmitter {
  private readonly xmpp: Component;
  private online = false;
  private stopping = false;
  private readonly recent: StanzaSummary[] = [];
  /** Counts streams, so that a stanza written into one that ended is never taken as read. */
  private session = 0;
  /** Stanzas written, over every stream; and how many of them the server is known to have read. */
  private written = 0;
  private confirmedUpTo = 0;
  /** Waiting for the server to have read what was written before they asked: see confirmWritten. */
  private waiting: Barrier[] = [];
  /** Barriers whose ping is on its way: one ping at a time, the next one serves all who asked meanwhile. */
  private inFlight: Barrier[] | undefined;
  private barrierScheduled = false;

  constructor(private readonly options: ComponentConnectionOptions, private readonly log: Logger) {
    super();
    this.xmpp = component({ service: options.service, domain: options.domain, password: options.password });
    // The one guard: whatever the library writes (stanzas, iq answers, stream headers) passes it.
    const write = this.xmpp.write.bind(this.xmpp);
    this.xmpp.write = (data: string) => write(xmlSafe(data));
    this.xmpp.on("send", (stanza: Element) => {
      this.written++;
      this.recent.push({ name: stanza.name, type: stanza.attrs.type, id: stanza.attrs.id });
      if (this.recent.length > RECENT_STANZAS) this.recent.shift();
    });
    this.xmpp.reconnect.delay = FIRST_RECONNECT_DELAY_MS;
    this.xmpp.on("online", () => {
      this.online = true;
      this.session++;
      this.xmpp.reconnect.delay = FIRST_RECONNECT_DELAY_MS;
      this.log.info({ domain: options.domain }, "component connection online");
      this.emit("online");
    });
    this.xmpp.on("offline", () => this.markOffline());
    this.xmpp.on("disconnect", () => this.markOffline());
    this.xmpp.reconnect.on("reconnecting", () => {
      const max = options.maxReconnectDelaySeconds * 1000;
      this.log.info({ nextDelayMs: this.xmpp.reconnect.delay }, "reconnecting the component connection");
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

  /** Fails at once while the stream is not up: a stanza written before the handshake is done makes the server close it. */
  async request(iq: Element, timeoutMs = 10_000): Promise<Element> {
    if (!this.online) throw new ComponentOfflineError(this.options.service);
    return this.xmpp.iqCaller.request(iq, timeoutMs);
  }

  async send(stanza: Element): Promise<void> {
    if (!this.online) throw new ComponentOfflineError(this.options.service);
    await this.xmpp.send(stanza);
  }

  /** Where the stream stands now: taken before a delivery, handed to confirmWritten after it. */
  writeMark(): WriteMark {
    return { session: this.session, written: this.written };
  }

  /**
   * Resolves once the server has read every stanza written since `mark`; rejects with
   * ComponentOfflineError when the stream they went into ended first, since they may be lost.
   * XEP-0114 has no acknowledgements, but the server reads in order: any answer to a ping written
   * after those stanzas proves they were read. One ping is in flight at a time and all who ask
   * meanwhile share the next, so a busy stream costs a ping per round trip, not one per stanza.
   */
  confirmWritten(mark: WriteMark): Promise<void> {
    if (this.written === mark.written) return Promise.resolve();
    if (mark.session !== this.session || !this.online) return Promise.reject(new ComponentOfflineError(this.options.service));
    if (this.confirmedUpTo >= this.written) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.scheduleBarrier();
    });
  }

  private scheduleBarrier(): void {
    if (this.barrierScheduled || this.inFlight || this.waiting.length === 0) return;
    this.barrierScheduled = true;
    setImmediate(() => this.sendBarrier());
  }

  private sendBarrier(): void {
    this.barrierScheduled = false;
    const barriers = this.waiting;
    this.waiting = [];
    if (!this.online) {
      for (const b of barriers) b.reject(new ComponentOfflineError(this.options.service));
      return;
    }
    this.inFlight = barriers;
    const session = this.session;
    // Counting the ping itself: its answer proves it was read too.
    const upTo = this.written + 1;
    const settle = (err?: Error): void => {
      if (this.inFlight !== barriers) return;
      this.inFlight = undefined;
      if (!err && session === this.session) this.confirmedUpTo = Math.max(this.confirmedUpTo, upTo);
      for (const b of barriers) (err ? b.reject(err) : b.resolve());
      this.scheduleBarrier();
    };
    // A ping to the component's own domain goes through the server and back: every XMPP server routes it.
    const ping = xml("iq", { type: "get", from: this.options.domain, to: this.options.domain }, xml("ping", { xmlns: NS.ping }));
    this.xmpp.iqCaller.request(ping, BARRIER_TIMEOUT_MS).then(
      () => settle(),
      // An error answer proves the reading as well as a result; no answer proves nothing.
      (err: Error) => settle(err.name === "StanzaError" ? undefined : new ComponentOfflineError(this.options.service, err)),
    );
  }

  /**
   * Connects once; rejects with a typed error when the server is unreachable or refuses the secret. May
   * be called again after stop() (a standby taking over again).
   */
  async start(): Promise<void> {
    this.stopping = false;
    // Reconnection was stopped by stop() or a failed start: on again, once.
    this.xmpp.reconnect.stop();
    this.xmpp.reconnect.start();
    let refused: (err: ComponentAuthError) => void = () => undefined;
    const authFailure = new Promise<never>((_, reject) => this.once("auth-failed", (refused = reject)));
    try {
      await Promise.race([this.xmpp.start(), authFailure]);
      this.off("auth-failed", refused);
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
    await this.xmpp.stop().catch((err: unknown) => this.log.debug({ err }, "component stop"));
    this.markOffline();
  }

  private markOffline(): void {
    if (!this.online) return;
    this.online = false;
    const lost = new ComponentOfflineError(this.options.service);
    for (const b of [...(this.inFlight ?? []), ...this.waiting.splice(0)]) b.reject(lost);
    this.inFlight = undefined;
    if (!this.stopping) this.log.warn("component connection offline");
    this.emit("offline");
  }

  private onError(err: StreamErrorLike): void {
    if (err.condition && AUTH_CONDITIONS.has(err.condition)) {
      const authError = new ComponentAuthError(this.options.service, this.options.domain, err.condition);
      this.xmpp.reconnect.stop();
      this.emit("auth-failed", authError);
      // After start-up a refused secret is fatal too: the bridge cannot work without its connection.
      if (this.listenerCount("fatal") > 0) this.emit("fatal", authError);
      return;
    }
    if (this.stopping) return;
    if (err.name === "StreamError") {
      // Stanzas written after the last one the server read are sent again: the outbox keeps them until confirmWritten.
      this.log.error({ condition: err.condition, text: err.text, lastStanzas: this.recent }, "the XMPP server closed the component stream");
      return;
    }
    this.log.warn({ err, code: err.code }, "component connection error");
  }
}

export class ComponentOfflineError extends Error {
  constructor(readonly service: string, cause?: Error) {
    super(`the component connection to ${service} is offline`, cause ? { cause } : undefined);
    this.name = "ComponentOfflineError";
  }
}
