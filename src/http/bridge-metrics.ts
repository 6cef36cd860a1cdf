import { collectDefaultMetrics, Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { Link } from "../core/model.js";
import { isUp, type HealthCheck } from "./status-server.js";

export type Direction = "matrix_to_xmpp" | "xmpp_to_matrix";

/** Where the gauges read their values, on each scrape. */
export interface MetricSources {
  links(): Promise<Link[]>;
  /** Entries waiting in each lane ("matrix:…" bound for XMPP, "xmpp:…" bound for Matrix). */
  outboxDepths(): Promise<Map<string, number>>;
  /** When the oldest entry of each lane happened (ms since the epoch), where it says. */
  oldestEntryTimes(): Promise<Map<string, number | undefined>>;
  /** How many XMPP users the bridge stands for on Matrix (ghosts), and Matrix users on XMPP (puppets). */
  population(): Promise<{ ghosts: number; puppets: number }>;
  /** The parts the bridge needs: the component connection, the homeserver, Redis. */
  checks: readonly HealthCheck[];
}

interface CheckResult {
  name: string;
  up: boolean;
  seconds: number;
}

async function timed(check: HealthCheck): Promise<CheckResult> {
  const started = performance.now();
  const up = await isUp(check);
  return { name: check.name, up, seconds: (performance.now() - started) / 1000 };
}

const DIRECTIONS: readonly Direction[] = ["matrix_to_xmpp", "xmpp_to_matrix"];
const sideOf = (lane: string): Direction => (lane.startsWith("matrix:") ? "matrix_to_xmpp" : "xmpp_to_matrix");

/**
 * The bridge's own metrics (docs/metrics.md): what crossed, what failed and why, how long it took,
 * what waits, and whether each connection is up; with Node's process metrics.
 */
export class BridgeMetrics {
  private readonly events: Counter<"direction" | "kind" | "outcome">;
  private readonly failures: Counter<"direction" | "reason">;
  private readonly latency: Histogram<"direction">;
  private readonly undeliverableMessages: Counter<"direction" | "reason">;
  private readonly rateLimitedMessages: Counter<"direction">;

  constructor(registry: Registry, sources: MetricSources, version: string) {
    collectDefaultMetrics({ register: registry });
    const registers = [registry];
    new Gauge({ name: "bridge_info", help: "The bridge's version", labelNames: ["version"], registers }).set({ version }, 1);
    this.events = new Counter({
      name: "bridge_events_total",
      help: "Events taken from the outboxes, by direction, kind (message, reaction, occupant...) and outcome: delivered, retried (a failure that may pass; the entry stays), dropped (a failure that cannot pass)",
      labelNames: ["direction", "kind", "outcome"],
      registers,
    });
    this.failures = new Counter({ name: "bridge_failures_total", help: "Failed deliveries by direction and reason (the error's name)", labelNames: ["direction", "reason"], registers });
    this.undeliverableMessages = new Counter({
      name: "bridge_undeliverable_messages_total",
      help: "Messages that will never reach the other side, their senders told so, by direction and reason (a Matrix error code, an XMPP error condition, or the error's name)",
      labelNames: ["direction", "reason"],
      registers,
    });
    this.rateLimitedMessages = new Counter({
      name: "bridge_rate_limited_messages_total",
      help: "Messages the per-sender rate limit held back behind their room's other senders (delivered later, in order), by direction",
      labelNames: ["direction"],
      registers,
    });
    this.latency = new Histogram({
      name: "bridge_delivery_seconds",
      help: "From an event's arrival (origin_server_ts on Matrix, its queueing on XMPP) to its delivery on the other side",
      labelNames: ["direction"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    new Gauge({
      name: "bridge_outbox_entries",
      help: "Entries waiting in the outboxes, by direction",
      labelNames: ["direction"],
      registers,
      async collect() {
        const depths = await sources.outboxDepths();
        for (const direction of DIRECTIONS) this.set({ direction }, [...depths].filter(([lane]) => sideOf(lane) === direction).reduce((sum, [, n]) => sum + n, 0));
      },
    });
    new Gauge({
      name: "bridge_outbox_oldest_seconds",
      help: "How long the oldest entry waiting in the outboxes has waited, by direction (0 when none waits)",
      labelNames: ["direction"],
      registers,
      async collect() {
        const times = await sources.oldestEntryTimes();
        const now = Date.now();
        for (const direction of DIRECTIONS) {
          const waits = [...times].filter(([lane, at]) => sideOf(lane) === direction && at !== undefined).map(([, at]) => (now - at!) / 1000);
          this.set({ direction }, Math.max(0, ...waits));
        }
      },
    });
    new Gauge({
      name: "bridge_rooms",
      help: "Bridged rooms by kind (portal, plumbed, gateway, dm)",
      labelNames: ["kind"],
      registers,
      async collect() {
        const links = await sources.links();
        for (const kind of ["portal", "plumbed", "gateway", "dm"]) this.set({ kind }, links.filter((l) => l.kind === kind).length);
      },
    });
    new Gauge({
      name: "bridge_users",
      help: "Users the bridge stands for: ghosts (XMPP users on Matrix) and puppets (Matrix users on XMPP)",
      labelNames: ["kind"],
      registers,
      async collect() {
        const { ghosts, puppets } = await sources.population();
        this.set({ kind: "ghost" }, ghosts);
        this.set({ kind: "puppet" }, puppets);
      },
    });
    // Both gauges below read one run of the checks per scrape.
    let run: { at: number; results: Promise<CheckResult[]> } | undefined;
    const checked = (): Promise<CheckResult[]> => {
      if (!run || performance.now() - run.at > 1000) run = { at: performance.now(), results: Promise.all(sources.checks.map(timed)) };
      return run.results;
    };
    new Gauge({
      name: "bridge_check_seconds",
      help: "How long each part's check took at the scrape: a PING round trip for redis, a request for the homeserver, the connection's state for xmpp",
      labelNames: ["peer"],
      registers,
      async collect() {
        for (const c of await checked()) this.set({ peer: c.name }, c.seconds);
      },
    });
    new Gauge({
      name: "bridge_connection_up",
      help: "1 when the bridge reaches the part (xmpp: the component connection, homeserver, redis), else 0",
      labelNames: ["peer"],
      registers,
      async collect() {
        for (const c of await checked()) this.set({ peer: c.name }, c.up ? 1 : 0);
      },
    });
  }

  delivered(direction: Direction, kind: string, seconds: number | undefined): void {
    this.events.inc({ direction, kind, outcome: "delivered" });
    if (seconds !== undefined && seconds >= 0) this.latency.observe({ direction }, seconds);
  }

  /** A message that will never be delivered, its sender told so. */
  undeliverable(direction: Direction, reason: string): void {
    this.undeliverableMessages.inc({ direction, reason });
  }

  /** A message the per-sender rate limit held back: it is delivered later. */
  rateLimited(direction: Direction): void {
    this.rateLimitedMessages.inc({ direction });
  }

  failed(direction: Direction, kind: string, retried: boolean, reason: string): void {
    this.events.inc({ direction, kind, outcome: retried ? "retried" : "dropped" });
    this.failures.inc({ direction, reason });
  }
}
