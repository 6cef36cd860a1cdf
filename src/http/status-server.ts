import express, { type Express } from "express";
import type { Registry } from "prom-client";

/** A part the bridge cannot work without, checked live on each /health request. */
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

/** GET /metrics (Prometheus text) and GET /health (200 when every part is up, else 503 naming those down). */
export function statusApp(registry: Registry, checks: readonly HealthCheck[]): Express {
  const app = express();
  app.disable("x-powered-by");

  app.get("/metrics", async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });

  app.get("/health", async (_req, res) => {
    const results = await Promise.all(checks.map(async (c) => [c.name, await isUp(c)] as const));
    const status = Object.fromEntries(results.map(([name, up]) => [name, up ? "up" : "down"]));
    const down = results.filter(([, up]) => !up).map(([name]) => name);
    res.status(down.length === 0 ? 200 : 503).json({ status: down.length === 0 ? "ok" : "degraded", down, checks: status });
  });

  return app;
}
