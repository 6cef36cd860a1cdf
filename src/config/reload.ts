import type { BridgeConfig } from "./schema.js";

/** The keys the bridge applies while running (on SIGHUP); any other change needs a restart. */
export const RELOADABLE_KEYS = ["bridge.permissions", "logging.level"] as const;

export interface ConfigChanges {
  /** Changed keys that take effect at once. */
  reloaded: string[];
  /** Changed keys that take effect only after a restart. */
  needRestart: string[];
  /** The config now in force: the running one with the reloaded keys taken from the new one. */
  applied: BridgeConfig;
}

type Sections = Record<string, Record<string, unknown> | undefined>;

/** The keys (section.key: every key of the config is in a section) whose values differ. */
function changedKeys(before: BridgeConfig, after: BridgeConfig): string[] {
  const a = before as unknown as Sections;
  const b = after as unknown as Sections;
  const keys = new Set<string>();
  for (const section of new Set([...Object.keys(a), ...Object.keys(b)])) {
    for (const key of new Set([...Object.keys(a[section] ?? {}), ...Object.keys(b[section] ?? {})])) {
      if (JSON.stringify(a[section]?.[key]) !== JSON.stringify(b[section]?.[key])) keys.add(`${section}.${key}`);
    }
  }
  return [...keys];
}

/** What a config read again changes, and the config to run with from now on. */
export function configChanges(running: BridgeConfig, read: BridgeConfig): ConfigChanges {
  const changed = changedKeys(running, read);
  const reloadable = new Set<string>(RELOADABLE_KEYS);
  return {
    reloaded: changed.filter((k) => reloadable.has(k)),
    needRestart: changed.filter((k) => !reloadable.has(k)),
    applied: {
      ...running,
      bridge: { ...running.bridge, permissions: read.bridge.permissions },
      logging: { ...running.logging, level: read.logging.level },
    },
  };
}
