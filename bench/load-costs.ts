/**
 * What loading each dependency costs in resident memory, in fresh Node processes with the bridge's own
 * Node flags: each one alone over bare Node, and each one over those loaded before it, in the order the
 * bridge's modules bring them in (so a library that another one loaded already costs little there).
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { ROOT } from "./stack.js";

const execFileAsync = promisify(execFile);

/** The bridge's dependencies, heaviest first, then the bridge's own modules. */
export const DEPENDENCIES = [
  "matrix-appservice-bridge",
  "express",
  "ioredis",
  "prom-client",
  "zod",
  "yaml",
  "pino",
  "@xmpp/component",
  "htmlparser2",
  "file-type",
  "image-size",
  "mime-types",
  "content-disposition",
  "ipaddr.js",
];
const BRIDGE = "the bridge's modules (dist/src/bridge.js)";

/** Imports each specifier in turn and prints the RSS (MB) after each, collected, as JSON. */
const MEASURE = `
const settle = async () => { for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 100)); } };
const rss = () => process.memoryUsage().rss / 1048576;
await settle();
const out = [rss()];
for (const specifier of process.argv.slice(1)) { await import(specifier); await settle(); out.push(rss()); }
console.log(JSON.stringify(out));`;

async function rssAfter(specifiers: readonly string[]): Promise<number[]> {
  // The flags of bin/matrix-xmpp-bridge; --expose-gc only to measure what stays, not what waits for a collection.
  const flags = ["--max-semi-space-size=4", "--optimize-for-size", "--expose-gc", "--no-deprecation", "--input-type=module", "-e", MEASURE];
  const { stdout } = await execFileAsync(process.execPath, [...flags, ...specifiers], { cwd: ROOT });
  return JSON.parse(stdout) as number[];
}

export interface LoadCost {
  name: string;
  /** MB over bare Node, loaded alone. */
  aloneMb: number;
  /** MB over what was loaded before it, in the order of DEPENDENCIES. */
  inOrderMb: number;
}

export interface LoadCosts {
  bareMb: number;
  /** All of it: the dependencies and the bridge's modules. */
  allMb: number;
  costs: LoadCost[];
}

/** The median of three runs of each measurement: one process's RSS varies by a MB or so. */
export async function loadCosts(): Promise<LoadCosts> {
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const runs = 3;
  const bridge = pathToFileURL(join(ROOT, "dist/src/bridge.js")).href;
  const specifiers = [...DEPENDENCIES, bridge];
  const inOrder: number[][] = [];
  for (let i = 0; i < runs; i++) inOrder.push(await rssAfter(specifiers));
  const at = (index: number) => median(inOrder.map((run) => run[index]!));
  const costs: LoadCost[] = [];
  for (const [i, specifier] of specifiers.entries()) {
    const alone: number[] = [];
    for (let r = 0; r < runs; r++) {
      const [bare, loaded] = await rssAfter([specifier]);
      alone.push(loaded! - bare!);
    }
    costs.push({ name: specifier === bridge ? BRIDGE : specifier, aloneMb: median(alone), inOrderMb: at(i + 1) - at(i) });
  }
  return { bareMb: at(0), allMb: at(specifiers.length), costs };
}
