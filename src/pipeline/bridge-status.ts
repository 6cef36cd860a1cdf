import { isUp, type HealthCheck } from "../http/status-server.js";
import type { BridgeStore } from "../store/store.js";

/** What the bot's "status" and the provisioning API's status answer: each part's state, and what waits each way. */
export interface BridgeStatus {
  parts: { name: string; up: boolean }[];
  /** Entries in the outboxes, by where they go; undefined while Redis cannot be read. */
  waiting: { toXmpp: number; toMatrix: number } | undefined;
}

export async function bridgeStatus(checks: readonly HealthCheck[], store: BridgeStore): Promise<BridgeStatus> {
  const parts = await Promise.all(checks.map(async (c) => ({ name: c.name, up: await isUp(c) })));
  const depths = await store.outboxDepths().catch(() => undefined);
  if (!depths) return { parts, waiting: undefined };
  const waiting = (prefix: string) => [...depths].filter(([lane]) => lane.startsWith(prefix)).reduce((sum, [, n]) => sum + n, 0);
  return { parts, waiting: { toXmpp: waiting("matrix:"), toMatrix: waiting("xmpp:") } };
}

/** The status as the bot says it. */
export function statusText({ parts, waiting }: BridgeStatus): string {
  const states = parts.map((p) => `${p.name} ${p.up ? "up" : "down"}`).join(", ");
  if (!waiting) return `${states}\nThe queues cannot be read while Redis is away.`;
  return `${states}\nWaiting: ${waiting.toXmpp} for XMPP, ${waiting.toMatrix} for Matrix.`;
}
