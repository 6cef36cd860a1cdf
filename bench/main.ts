/**
 * npm run bench: the bridge's performance on the real stack, each figure beside the same path without
 * the bridge in the same run (the machine is shared, so absolute figures vary; ratios much less). See
 * docs/performance.md.
 *
 * Options: --messages N (per throughput run, default 300), --probes N (per latency run, default 100),
 * --rate R (probes per second, default 20, at most half the homeserver's sequential rate), --no-profile (skip the run under --cpu-prof), --docs
 * (write the table into docs/performance.md).
 */
import { cpus, totalmem, release } from "node:os";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { conversionRates, largeInputTimes } from "./conversions.js";
import { loadCosts } from "./load-costs.js";
import { loadCostTable, markdownTable, rows } from "./report.js";
import { ROOT, serverPids, stackDown, stackUp } from "./stack.js";

const log = (line: string) => console.error(`bench: ${line}`);

const { values } = parseArgs({
  options: {
    messages: { type: "string", default: "300" },
    probes: { type: "string", default: "100" },
    rate: { type: "string", default: "20" },
    "no-profile": { type: "boolean", default: false },
    docs: { type: "boolean", default: false },
  },
});
const settings = { messages: Number(values.messages), probes: Number(values.probes), rate: Number(values.rate), profile: !values["no-profile"] };

const DOCS_START = "<!-- bench:results -->";
const DOCS_END = "<!-- /bench:results -->";

async function main(): Promise<void> {
  const began = performance.now();
  const date = new Date().toISOString();
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "", memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version, kernel: release() };

  log("core conversions, on one core, before the stack starts");
  const conversions = conversionRates();
  const largeInputs = largeInputTimes();
  log("what loading each dependency costs");
  const memory = await loadCosts();

  log("starting the stack");
  const stack = await stackUp();
  const stopStack = () => stackDown(stack.dir).catch((err: unknown) => log(`stopping the stack failed: ${String(err)}`));
  process.once("SIGINT", () => void stopStack().then(() => process.exit(130)));
  let scenarios;
  try {
    // The test helpers read the stack's settings when they load: only now.
    const { runScenarios } = await import("./scenarios.js");
    scenarios = await runScenarios(settings, await serverPids(stack.dir), log);
  } finally {
    log("stopping the stack");
    await stopStack();
  }

  const table = rows(conversions, largeInputs, scenarios);
  const seconds = Math.round((performance.now() - began) / 1000);
  const results = { date, machine, settings, seconds, stackUpSeconds: stack.upSeconds, conversions, largeInputs, loadCosts: memory, ...scenarios, table };
  const dir = join(ROOT, "bench/results");
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${date.replace(/:/g, "-").replace(/\.\d+Z$/, "Z")}.json`);
  await writeFile(file, JSON.stringify(results, null, 2) + "\n");

  const markdown = [
    `${date.slice(0, 10)}, ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGb} GB, Node ${machine.node}; ` +
      `${settings.messages} messages per throughput run, ${settings.probes} probes at ${scenarios.latency.rate}/s per latency run; ${seconds} s in all.`,
    "",
    markdownTable(table),
    "",
    loadCostTable(memory),
  ].join("\n");
  console.log(markdown);
  if (scenarios.profile) {
    const { summary, file: profileFile } = scenarios.profile;
    console.log(`\nCPU profile of the bridge (${profileFile}), ${summary.busyMs} ms busy of ${summary.windowMs} ms:`);
    for (const [title, list] of [["by package or file", summary.byPackage], ["by function (self)", summary.topFunctions], ["by the bridge's innermost function", summary.byBridgeFunction]] as const) {
      console.log(`\n${title}:`);
      for (const s of list) console.log(`  ${s.percent.toFixed(1).padStart(5)} %  ${s.name}`);
    }
  }
  if (scenarios.limitedSyncs > 0) log(`warning: ${scenarios.limitedSyncs} syncs had limited timelines`);
  log(`results in ${file}`);
  if (values.docs) {
    const docs = join(ROOT, "docs/performance.md");
    const text = await readFile(docs, "utf8");
    const start = text.indexOf(DOCS_START);
    const end = text.indexOf(DOCS_END);
    if (start < 0 || end < start) throw new Error(`docs/performance.md has no ${DOCS_START} ... ${DOCS_END} section`);
    await writeFile(docs, `${text.slice(0, start + DOCS_START.length)}\n${markdown}\n${text.slice(end)}`);
    log("table written into docs/performance.md");
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
