import express, { type Express, type Router } from "express";
import type { Registry } from "prom-client";

/** A part the bridge cannot work without, checked live on each /health or /ready request. */
export interface HealthCheck {
  name: string;
  check(): Promise<boolean>;
}

const CHECK_TIMEOUT_MS = 3000;

export async function isUp(check: HealthCheck): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([check.check().catch(() => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Every check run at once: each part "up" or "down", and the names of those down. */
async function runChecks(checks: readonly HealthCheck[]): Promise<{ checks: Record<string, "up" | "down">; down: string[] }> {
  const results = await Promise.all(checks.map(async (c) => [c.name, await isUp(c)] as const));
  return {
    checks: Object.fromEntries(results.map(([name, up]) => [name, up ? "up" : "down"])),
    down: results.filter(([, up]) => !up).map(([name]) => name),
  };
}

/** Whether this instance waits on standby while another one is active (always false with one instance). */
export type OnStandby = () => boolean;

/**
 * The probes, which need no token: GET /live (200 while the process serves requests) and GET /ready (200
 * when every part is up, else 503 naming those down; 503 "standby" on a standby instance, so that a load
 * balancer sends the homeserver to the active one), for container health checks and orchestrators.
 */
export function probeRoutes(checks: readonly HealthCheck[], onStandby: OnStandby = () => false): Router {
  const router = express.Router();
  router.get("/live", (_req, res) => {
    res.json({ status: "live" });
  });
  router.get("/ready", async (_req, res) => {
    if (onStandby()) {
      res.status(503).json({ status: "standby", down: [], checks: {} });
      return;
    }
    const { checks: status, down } = await runChecks(checks);
    res.status(down.length === 0 ? 200 : 503).json({ status: down.length === 0 ? "ready" : "not ready", down, checks: status });
  });
  return router;
}

/** GET /metrics (Prometheus text), GET /health (200 when every part is up, else 503 naming those down) and the probes. */
export function statusApp(registry: Registry, checks: readonly HealthCheck[], onStandby?: OnStandby): Express {
  const app = express();
  app.disable("x-powered-by");

  app.get("/metrics", async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });

  app.get("/health", async (_req, res) => {
    const { checks: status, down } = await runChecks(checks);
    res.status(down.length === 0 ? 200 : 503).json({ status: down.length === 0 ? "ok" : "degraded", down, checks: status });
  });
  app.use(probeRoutes(checks, onStandby));

  return app;
}
