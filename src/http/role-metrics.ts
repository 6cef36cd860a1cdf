import { Counter, Gauge, type Registry } from "prom-client";

/**
 * Whether this instance is the active one (`bridge_active`) and how often it took over
 * (`bridge_lease_takeovers_total`), for several instances sharing one Redis (docs/reliability.md).
 */
export function roleMetrics(registry: Registry): { active(isActive: boolean): void; tookOver(): void } {
  const registers = [registry];
  const active = new Gauge({ name: "bridge_active", help: "1 while this instance is the active one (holds the component connection, drains the outboxes), 0 on standby", registers });
  const takeovers = new Counter({ name: "bridge_lease_takeovers_total", help: "Times this instance acquired the lease and became the active one", registers });
  return {
    active: (isActive) => active.set(isActive ? 1 : 0),
    tookOver: () => takeovers.inc(),
  };
}
