/** The benchmark's figures as one Markdown table, each next to its target where the issue sets one. */
import type { ConversionRates } from "./conversions.js";
import type { LoadCosts } from "./load-costs.js";
import type { Percentiles } from "./measure.js";
import type { ParallelResults } from "./parallel.js";
import type { Rejoin, ScaleResults } from "./scale.js";
import type { ScenarioResults } from "./scenarios.js";

export interface Row {
  figure: string;
  bridged: string;
  without: string;
  compared: string;
  target: string;
  met?: boolean;
}

const f1 = (x: number) => x.toFixed(1);
const f0 = (x: number) => Math.round(x).toLocaleString("en");
const MB = 1024 * 1024;

/** A target is met when the figure is at most (or, for "at least", at least) the limit. */
const target = (value: number, limit: number, atLeast = false) => (atLeast ? value >= limit : value <= limit);

export function rows(conv: ConversionRates, largeInputs: Record<string, number>, s: ScenarioResults): Row[] {
  const out: Row[] = [];
  const tp = s.throughput;
  const xmRatio = tp.xmppToMatrix.messagesPerSecond / tp.matrixSequential.messagesPerSecond;
  const slowest = Math.min(tp.matrixSequential.messagesPerSecond, tp.xmppOneToOne.messagesPerSecond);
  const mxRatio = tp.matrixToXmpp.messagesPerSecond / slowest;
  const order = (ok: boolean) => (ok ? "" : " (out of order!)");
  out.push({
    figure: "throughput XMPP→Matrix, one DM (msg/s); without: one Matrix client sending in sequence (mean of a run before and after)",
    bridged: f1(tp.xmppToMatrix.messagesPerSecond) + order(tp.xmppToMatrix.inOrder),
    without: f1(tp.matrixSequential.messagesPerSecond),
    compared: `${xmRatio.toFixed(2)}×`,
    target: "≥ 0.95×",
    met: target(xmRatio, 0.95, true),
  });
  out.push({
    figure: "throughput Matrix→XMPP, one DM (msg/s); without: one XMPP client to another",
    bridged: f1(tp.matrixToXmpp.messagesPerSecond) + order(tp.matrixToXmpp.inOrder),
    without: f1(tp.xmppOneToOne.messagesPerSecond),
    compared: `${(tp.matrixToXmpp.messagesPerSecond / tp.xmppOneToOne.messagesPerSecond).toFixed(2)}×`,
    target: "—",
  });
  out.push({
    figure: "throughput Matrix→XMPP vs the slower hop (the Matrix sender's sequential rate)",
    bridged: f1(tp.matrixToXmpp.messagesPerSecond),
    without: f1(slowest),
    compared: `${mxRatio.toFixed(2)}×`,
    target: "≥ 0.95×",
    met: target(mxRatio, 0.95, true),
  });
  const latencyRows = (way: string, l: { bridged: Percentiles; withoutBridge: Percentiles }) => {
    for (const [p, limit] of [["p50", 2], ["p95", undefined], ["p99", 10]] as const) {
      const added = l.bridged[p] - l.withoutBridge[p];
      out.push({
        figure: `latency ${way} ${p} (ms), ${l.bridged.count} probes`,
        bridged: f1(l.bridged[p]),
        without: f1(l.withoutBridge[p]),
        compared: `+${f1(added)} ms`.replace("+-", "−"),
        target: limit === undefined ? "—" : `added ≤ ${limit} ms`,
        ...(limit === undefined ? {} : { met: target(added, limit) }),
      });
    }
  };
  latencyRows("XMPP→Matrix", s.latency.xmppToMatrix);
  latencyRows("Matrix→XMPP", s.latency.matrixToXmpp);

  const idle = s.idle.snapshot;
  out.push({ figure: "bridge RSS idle (MB)", bridged: f1(idle.bridge!.rssMb), without: "", compared: "", target: "≤ 110 MB", met: target(idle.bridge!.rssMb, 110) });
  for (const name of ["bridge", "synapse", "prosody", "redis"]) {
    const after = s.afterLoad[name]!;
    out.push({
      figure: `${name}: RSS idle → after load, peak (MB); CPU idle`,
      bridged: `${f1(idle[name]!.rssMb)} → ${f1(after.rssMb)}, peak ${f1(after.peakRssMb)}`,
      without: "",
      compared: `${f1(s.idle.cpuPercent[name]!)} % CPU idle`,
      target: "—",
    });
  }
  const cpu = s.cpuPerMessage;
  out.push({
    figure: "CPU per message XMPP→Matrix (ms): bridge; Synapse with the bridge vs a client's send",
    bridged: `bridge ${cpu.xmppToMatrix.bridge!.toFixed(2)}; Synapse ${cpu.xmppToMatrix.synapse!.toFixed(2)}`,
    without: `Synapse ${cpu.matrixSequential.synapse!.toFixed(2)}`,
    compared: `bridge ${(cpu.xmppToMatrix.bridge! / cpu.xmppToMatrix.synapse!).toFixed(2)}× Synapse`,
    target: "—",
  });
  out.push({
    figure: "CPU per message Matrix→XMPP (ms): bridge; Synapse; Prosody vs one client to another",
    bridged: `bridge ${cpu.matrixToXmpp.bridge!.toFixed(2)}; Synapse ${cpu.matrixToXmpp.synapse!.toFixed(2)}; Prosody ${cpu.matrixToXmpp.prosody!.toFixed(2)}`,
    without: `Prosody ${cpu.xmppOneToOne.prosody!.toFixed(2)}`,
    compared: `bridge ${(cpu.matrixToXmpp.bridge! / cpu.matrixToXmpp.synapse!).toFixed(2)}× Synapse`,
    target: "—",
  });
  const r = s.redis;
  out.push({
    figure: `Redis used_memory before → after ${r.messages} bridged messages (MB); keys`,
    bridged: `${(r.before.usedBytes / MB).toFixed(2)} → ${(r.after.usedBytes / MB).toFixed(2)}; ${r.before.keys} → ${r.after.keys} keys`,
    without: "",
    compared: `${f0((r.after.usedBytes - r.before.usedBytes) / r.messages)} B per message`,
    target: "—",
  });
  for (const [label, value] of [
    ["conversions/s Matrix→XMPP, plain (one core)", conv.matrixToXmppPlain],
    ["conversions/s XMPP→Matrix, plain (one core)", conv.xmppToMatrixPlain],
  ] as const) {
    out.push({ figure: label, bridged: f0(value), without: "", compared: "", target: "≥ 50,000", met: target(value, 50_000, true) });
  }
  out.push({ figure: "conversions/s Matrix→XMPP, formatted (one core)", bridged: f0(conv.matrixToXmppFormatted), without: "", compared: "", target: "—" });
  out.push({ figure: "conversions/s XMPP→Matrix, formatted (one core)", bridged: f0(conv.xmppToMatrixFormatted), without: "", compared: "", target: "—" });
  for (const [name, ms] of Object.entries(largeInputs)) {
    out.push({ figure: `1 MB input: ${name} (ms)`, bridged: f0(ms), without: "", compared: "", target: "< 2,000 ms", met: target(ms, 2000) });
  }
  const [first, ...restarts] = s.startupMs;
  out.push({
    figure: "start-up to \"bridge running\" (ms): first start; restarts",
    bridged: `${f0(first!)}; ${restarts.map(f0).join(", ")}`,
    without: "",
    compared: "",
    target: "—",
  });
  return out;
}

/** The scale scenario's figures (bench/scale.ts). */
export function scaleRows({ settings, redisBytes, startup, memory }: ScaleResults): Row[] {
  const load = (r: Rejoin) => `load average ${r.loadAverage.map((l) => l.toFixed(1)).join(", ")}`;
  const rejoined = (r: Rejoin) => `${r.rejoined} of ${r.puppets} puppets back in${r.failed ? `, ${r.failed} failed` : ""}`;
  const allIn = (r: Rejoin) => r.rejoined === r.puppets;
  return [
    {
      figure: `start-up with ${settings.rooms} portal MUCs, a puppet in each: start to every puppet back in (s); "bridge running" at; rejoining from the component online`,
      bridged: `${f1(startup.allRejoinedMs / 1000)}; running at ${f1(startup.runningMs / 1000)}; rejoining ${f1(startup.rejoiningMs / 1000)} (${f1(startup.rejoiningMs / startup.puppets)} ms per puppet)`,
      without: "",
      compared: `${rejoined(startup)}; ${load(startup)}`,
      target: "≤ 30 s",
      met: allIn(startup) && target(startup.allRejoinedMs, 30_000),
    },
    {
      figure: `while rejoining: a Matrix message into a portal until XMPP has it (ms); an empty homeserver transaction answered in (ms)`,
      bridged: `${f0(startup.probeMs)}; ${f1(startup.transactionMs)}`,
      without: "",
      // When the rejoining ended before the message arrived, the figure says nothing of the target.
      compared: startup.probeArrivedDuringRejoin ? "arrived before the rejoining ended" : "arrived after the rejoining ended: not a test of the target",
      target: "answered meanwhile",
      ...(startup.probeArrivedDuringRejoin ? { met: true } : {}),
    },
    {
      figure: `bridge RSS with ${settings.users} ghosts, ${settings.users} puppets and ${settings.rooms} portal rooms (MB), peak`,
      bridged: `${f1(memory.bridge.rssMb)}, peak ${f1(memory.bridge.peakRssMb)}`,
      without: "",
      compared: `${rejoined(memory)} in ${f1(memory.rejoiningMs / 1000)} s of rejoining; ${load(memory)}`,
      target: "≤ 200 MB",
      met: allIn(memory) && target(memory.bridge.rssMb, 200),
    },
    {
      figure: "Redis used_memory (bytes) per portal room (link, membership, a puppet); per ghost (profile, membership); per further puppet (membership, occupancy); in all",
      bridged: `${f0(redisBytes.perRoom)}; ${f0(redisBytes.perGhost)}; ${f0(redisBytes.perPuppet)}; ${(redisBytes.total / MB).toFixed(1)} MB, ${redisBytes.keys} keys`,
      without: "",
      compared: "",
      target: "—",
    },
  ];
}

/** Many rooms at once and the soak's memory (bench/parallel.ts). */
export function parallelRows({ settings, bridged, bridgedMatrixToXmpp, withoutBridge, memory, loadAverage }: ParallelResults): Row[] {
  const order = (ok: boolean) => (ok ? "" : " (out of order!)");
  const ratio = bridged.messagesPerSecond / withoutBridge.messagesPerSecond;
  const load = `load average ${loadAverage.map((l) => l.toFixed(1)).join(", ")}`;
  const grown = memory.afterSoak.rssMb - memory.idle.rssMb;
  return [
    {
      figure: `throughput XMPP→Matrix, ${settings.rooms} direct chats at once (msg/s in all); without: ${settings.rooms} Matrix clients sending in sequence at once (mean of a run before and after)`,
      bridged: `${f1(bridged.messagesPerSecond)}${order(bridged.inOrder)}`,
      without: f1(withoutBridge.messagesPerSecond),
      compared: `${ratio.toFixed(2)}×`,
      target: "≥ 0.9×",
      met: bridged.inOrder && target(ratio, 0.9, true),
    },
    {
      figure: `throughput Matrix→XMPP, ${settings.rooms} direct chats at once (msg/s in all); compared with the Matrix clients' rate without the bridge`,
      bridged: `${f1(bridgedMatrixToXmpp.messagesPerSecond)}${order(bridgedMatrixToXmpp.inOrder)}`,
      without: f1(withoutBridge.messagesPerSecond),
      compared: `${(bridgedMatrixToXmpp.messagesPerSecond / withoutBridge.messagesPerSecond).toFixed(2)}×`,
      target: "—",
    },
    {
      figure: `bridge RSS idle → after a soak of ${memory.soakMessages} messages, half each way (MB), peak`,
      bridged: `${f1(memory.idle.rssMb)} → ${f1(memory.afterSoak.rssMb)}, peak ${f1(memory.afterSoak.peakRssMb)}${order(memory.inOrder)}`,
      without: "",
      compared: `${grown >= 0 ? "+" : "−"}${f1(Math.abs(grown))} MB in ${f0(memory.soakSeconds)} s; ${load}`,
      target: "≤ idle + 20 MB",
      met: memory.inOrder && target(grown, 20),
    },
  ];
}

export function markdownTable(table: readonly Row[]): string {
  const lines = [
    "| figure | with the bridge | without it | compared | target | met |",
    "|---|---|---|---|---|---|",
    ...table.map((r) => `| ${r.figure} | ${r.bridged} | ${r.without} | ${r.compared} | ${r.target} | ${r.met === undefined ? "" : r.met ? "met" : "not met"} |`),
  ];
  return lines.join("\n");
}

/** What loading each dependency costs (bench/load-costs.ts), as a Markdown table. */
export function loadCostTable({ bareMb, allMb, costs }: LoadCosts): string {
  return [
    `Resident memory (MB) of loading each dependency, with the bridge's Node flags, after a full collection: bare Node ${f1(bareMb)} MB, everything ${f1(allMb)} MB.`,
    "",
    "| loaded | alone, over bare Node | in this order, over what came before |",
    "|---|---|---|",
    ...costs.map((c) => `| ${c.name} | ${f1(c.aloneMb)} | ${f1(c.inOrderMb)} |`),
  ].join("\n");
}
