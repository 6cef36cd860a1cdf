/**
 * npm run bench: the bridge's performance on the real stack, each figure beside the same path without
 * the bridge in the same run (the machine is shared, so absolute figures vary; ratios much less). See
 * docs/performance.md.
 *
 * Options: --messages N (per throughput run, default 300), --probes N (per latency run, default 100),
 * --rate R (probes per second, default 20, at most half the homeserver's sequential rate), --no-profile (skip the run under --cpu-prof), --docs
 * (write the table into docs/performance.md); --scale (also the scale scenario, bench/scale.ts: --rooms N portal MUCs, default 1000,
 * --users N ghosts and puppets, default 10000), --scale-only (that scenario alone); --parallel (also many
 * rooms at once and a soak, bench/parallel.ts: --rooms-parallel N direct chats, default 20, --messages-each N
 * per chat and run, default 30, --soak N messages, default 10000), --parallel-only (that scenario alone).
 */
import { cpus, totalmem, release } from "node:os";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { conversionRates, largeInputTimes, type ConversionRates } from "./conversions.js";
import { loadCosts, type LoadCosts } from "./load-costs.js";
import type { ParallelResults } from "./parallel.js";
import { loadCostTable, markdownTable, parallelRows, rows, scaleRows } from "./report.js";
import type { ScaleResults } from "./scale.js";
import type { ScenarioResults } from "./scenarios.js";
import { ROOT, serverPids, stackDown, stackUp } from "./stack.js";

const log = (line: string) => console.error(`bench: ${line}`);

const { values } = parseArgs({
  options: {
    messages: { type: "string", default: "300" },
    probes: { type: "string", default: "100" },
    rate: { type: "string", default: "20" },
    "no-profile": { type: "boolean", default: false },
    docs: { type: "boolean", default: false },
    scale: { type: "boolean", default: false },
    "scale-only": { type: "boolean", default: false },
    rooms: { type: "string", default: "1000" },
    users: { type: "string", default: "10000" },
    parallel: { type: "boolean", default: false },
    "parallel-only": { type: "boolean", default: false },
    "rooms-parallel": { type: "string", default: "20" },
    "messages-each": { type: "string", default: "30" },
    soak: { type: "string", default: "10000" },
  },
});
const settings = { messages: Number(values.messages), probes: Number(values.probes), rate: Number(values.rate), profile: !values["no-profile"] };
const scaleOnly = values["scale-only"];
const parallelOnly = values["parallel-only"];
const scaleSettings = values.scale || scaleOnly ? { rooms: Number(values.rooms), users: Number(values.users) } : undefined;
const parallelSettings = values.parallel || parallelOnly ? { rooms: Number(values["rooms-parallel"]), messages: Number(values["messages-each"]), soak: Number(values.soak) } : undefined;


/** Replaces the section between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` in docs/performance.md. */
async function writeDocsSection(name: string, markdown: string): Promise<void> {
  const [open, close] = [`<!-- bench:${name} -->`, `<!-- /bench:${name} -->`];
  const docs = join(ROOT, "docs/performance.md");
  const text = await readFile(docs, "utf8");
  const start = text.indexOf(open);
  const end = text.indexOf(close);
  if (start < 0 || end < start) throw new Error(`docs/performance.md has no ${open} ... ${close} section`);
  await writeFile(docs, `${text.slice(0, start + open.length)}\n${markdown}\n${text.slice(end)}`);
  log(`table written into docs/performance.md (${name})`);
}

function printProfile({ summary, file }: NonNullable<ScenarioResults["profile"]>): void {
  console.log(`\nCPU profile of the bridge (${file}), ${summary.busyMs} ms busy of ${summary.windowMs} ms:`);
  for (const [title, list] of [["by package or file", summary.byPackage], ["by function (self)", summary.topFunctions], ["by the bridge's innermost function", summary.byBridgeFunction]] as const) {
    console.log(`\n${title}:`);
    for (const s of list) console.log(`  ${s.percent.toFixed(1).padStart(5)} %  ${s.name}`);
  }
}

async function main(): Promise<void> {
  const began = performance.now();
  const date = new Date().toISOString();
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "", memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version, kernel: release() };
  const heading = `${date.slice(0, 10)}, ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGb} GB, Node ${machine.node}`;

  let core: { conversions: ConversionRates; largeInputs: Record<string, number>; loadCosts: LoadCosts } | undefined;
  if (!scaleOnly && !parallelOnly) {
    log("core conversions, on one core, before the stack starts");
    const conversions = conversionRates();
    const largeInputs = largeInputTimes();
    log("what loading each dependency costs");
    core = { conversions, largeInputs, loadCosts: await loadCosts() };
  }

  log("starting the stack");
  const stack = await stackUp();
  const stopStack = () => stackDown(stack.dir).catch((err: unknown) => log(`stopping the stack failed: ${String(err)}`));
  process.once("SIGINT", () => void stopStack().then(() => process.exit(130)));
  let scenarios: ScenarioResults | undefined;
  let scale: ScaleResults | undefined;
  let parallel: ParallelResults | undefined;
  try {
    const servers = await serverPids(stack.dir);
    // The test helpers read the stack's settings when they load: only now.
    if (core) scenarios = await (await import("./scenarios.js")).runScenarios(settings, servers, log);
    if (scaleSettings) scale = await (await import("./scale.js")).runScale(scaleSettings, servers, log);
    if (parallelSettings) parallel = await (await import("./parallel.js")).runParallel(parallelSettings, log);
  } finally {
    log("stopping the stack");
    await stopStack();
  }

  const table = core && scenarios ? rows(core.conversions, core.largeInputs, scenarios) : [];
  const scaleTable = scale ? scaleRows(scale) : [];
  const parallelTable = parallel ? parallelRows(parallel) : [];
  const seconds = Math.round((performance.now() - began) / 1000);
  const results = { date, machine, settings: { ...settings, scale: scaleSettings, parallel: parallelSettings }, seconds, stackUpSeconds: stack.upSeconds, ...core, ...scenarios, scale, parallel, table: [...table, ...scaleTable, ...parallelTable] };
  const dir = join(ROOT, "bench/results");
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${date.replace(/:/g, "-").replace(/\.\d+Z$/, "Z")}.json`);
  await writeFile(file, JSON.stringify(results, null, 2) + "\n");

  const sections: [string, string][] = [];
  if (core && scenarios) {
    const markdown = [
      `${heading}; ${settings.messages} messages per throughput run, ${settings.probes} probes at ${scenarios.latency.rate}/s per latency run; ${seconds} s in all.`,
      "",
      markdownTable(table),
      "",
      loadCostTable(core.loadCosts),
    ].join("\n");
    sections.push(["results", markdown]);
  }
  if (scale) sections.push(["scale", `${heading}; ${scale.settings.rooms} portal MUCs, ${scale.settings.users} ghosts and puppets.\n\n${markdownTable(scaleTable)}`]);
  if (parallel) sections.push(["parallel", `${heading}; ${parallel.settings.rooms} direct chats, ${parallel.settings.messages} messages per chat and run, a soak of ${parallel.memory.soakMessages} messages.\n\n${markdownTable(parallelTable)}`]);
  for (const [, markdown] of sections) console.log(`${markdown}\n`);
  if (scenarios?.profile) printProfile(scenarios.profile);
  if (scenarios && scenarios.limitedSyncs > 0) log(`warning: ${scenarios.limitedSyncs} syncs had limited timelines`);
  log(`results in ${file}`);
  if (values.docs) for (const [name, markdown] of sections) await writeDocsSection(name, markdown);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
