import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { pino } from "pino";
import { Registry } from "prom-client";
import { parseConfig } from "../../src/config/load.js";
import { FileUrls } from "../../src/core/file-urls.js";
import { Homeserver } from "../../src/matrix/homeserver.js";
import { roleMetrics } from "../../src/http/role-metrics.js";
import { MatrixMedia } from "../../src/matrix/media.js";
import { buildRegistration } from "../../src/matrix/registration.js";
import { RedisStore } from "../../src/store/redis-store.js";
import { buildPipeline } from "../../src/wiring/pipeline.js";
import { ComponentConnection } from "../../src/xmpp/component-connection.js";

const ROOT = new URL("../../../", import.meta.url).pathname;

/** Labels a series has without the bridge naming them: the scrape's, and a histogram bucket's bound. */
const ADDED_LABELS = ["job", "instance", "le"];

/**
 * The series the bridge exposes, with their label names, from the registry as the bridge wires it: the
 * pipeline is built (nothing connects or starts), with the active/standby metrics, so that every metric any part registers is there.
 */
function exposedSeries(): Map<string, Set<string>> {
  const config = parseConfig(readFileSync(`${ROOT}config.sample.yaml`, "utf8"), "config.sample.yaml", {});
  const log = pino({ level: "silent" });
  const registry = new Registry();
  const homeserver = new Homeserver({ url: config.homeserver.url, domain: config.homeserver.domain, registration: buildRegistration(config, "http://127.0.0.1:9000"), botDisplayName: "bot" }, log);
  const parts = {
    store: new RedisStore(config.redis, log),
    connection: new ComponentConnection(config.xmpp, log),
    media: new MatrixMedia(config.homeserver.url, "token"),
    fileUrls: new FileUrls("token", "http://127.0.0.1:9002", 1000),
  };
  buildPipeline({ config, homeserver, registry, log, ...parts });
  // Registered by the part that decides whether this instance is active, outside the pipeline.
  roleMetrics(registry);
  const series = new Map<string, Set<string>>();
  for (const metric of registry.getMetricsAsArray()) {
    const { name, labelNames = [] } = metric as unknown as { name: string; labelNames?: string[] };
    const type = (metric as unknown as { type: string }).type;
    const names = type === "histogram" ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : type === "summary" ? [name, `${name}_sum`, `${name}_count`] : [name];
    for (const n of names) series.set(n, new Set([...labelNames, ...ADDED_LABELS]));
  }
  return series;
}

/** The series and label names a PromQL expression (or a Grafana label_values query) reads. */
function readsOf(expr: string): { series: string[]; labels: string[] } {
  const text = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\$\w+/g, "");
  const labels = [
    ...[...text.matchAll(/\{([^}]*)\}/g)].flatMap((m) => [...m[1]!.matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]!)),
    ...[...text.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g)].flatMap((m) => m[1]!.split(",").map((l) => l.trim()).filter(Boolean)),
  ];
  const labelValues = /^label_values\((\w+),\s*(\w+)\)$/.exec(text.trim());
  if (labelValues) return { series: [labelValues[1]!], labels: [labelValues[2]!] };
  const bare = text.replace(/\{[^}]*\}/g, " ").replace(/\[[^\]]*\]/g, " ").replace(/\b(?:by|without|on|ignoring)\s*\([^)]*\)/g, " ");
  const keywords = new Set(["and", "or", "unless", "bool", "offset", "group_left", "group_right"]);
  const series = [...bare.matchAll(/([a-zA-Z_:][\w:]*)\s*(\()?/g)].filter((m) => !m[2] && !keywords.has(m[1]!)).map((m) => m[1]!);
  return { series, labels };
}

interface Target { expr: string; refId: string }
interface Panel { id: number; type: string; title: string; targets?: Target[]; datasource?: { uid: string } }
const dashboard = JSON.parse(readFileSync(`${ROOT}docs/grafana-dashboard.json`, "utf8")) as {
  title: string;
  uid: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: string | { query: string } }[] };
};

test("docs/grafana-dashboard.json is a Grafana dashboard: unique panel ids, every query panel on the chosen Prometheus", () => {
  assert.ok(dashboard.title && dashboard.uid && dashboard.schemaVersion > 30);
  const ids = dashboard.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length);
  const queryPanels = dashboard.panels.filter((p) => p.type !== "row");
  assert.ok(queryPanels.length >= 10, `${queryPanels.length} panels`);
  for (const panel of queryPanels) {
    assert.equal(panel.datasource?.uid, "${datasource}", panel.title);
    assert.ok(panel.targets && panel.targets.length > 0, panel.title);
    assert.equal(new Set(panel.targets.map((t) => t.refId)).size, panel.targets.length, panel.title);
  }
  assert.ok(dashboard.templating.list.some((v) => v.name === "datasource" && v.type === "datasource" && v.query === "prometheus"));
});

test("every query of the dashboard reads only series and labels the bridge exposes", () => {
  const exposed = exposedSeries();
  assert.ok(exposed.has("bridge_events_total") && exposed.has("bridge_delivery_seconds_bucket"), "the registry as the bridge wires it");
  const queries = [
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `${p.title} ${t.refId}`, expr: t.expr }))),
    ...dashboard.templating.list.filter((v) => v.type === "query").map((v) => ({ where: `variable ${v.name}`, expr: typeof v.query === "string" ? v.query : v.query.query })),
  ];
  const read = new Set<string>();
  for (const { where, expr } of queries) {
    const { series, labels } = readsOf(expr);
    assert.ok(series.length > 0, `${where}: no series in ${expr}`);
    for (const name of series) {
      read.add(name);
      assert.ok(exposed.has(name), `${where}: ${name} is not a series of the bridge`);
    }
    for (const label of labels) assert.ok(series.some((name) => exposed.get(name)?.has(label)), `${where}: no series of ${series.join(", ")} has the label ${label}`);
  }
  // The bridge's own metrics all have a panel.
  const bridgeMetrics = [...exposed.keys()].filter((n) => n.startsWith("bridge_") && !/_(sum|count)$/.test(n));
  assert.deepEqual(bridgeMetrics.filter((n) => !read.has(n)), []);
});
