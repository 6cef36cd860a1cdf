/**
 * Reads a V8 CPU profile (node --cpu-prof) of the bridge: where its CPU went within a time window,
 * by package or file, by function (self time), and by the bridge's own function that led there.
 */
import { readFile } from "node:fs/promises";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Share {
  name: string;
  ms: number;
  /** Share of the busy (not idle) time, in percent. */
  percent: number;
}

export interface ProfileSummary {
  windowMs: number;
  busyMs: number;
  byPackage: Share[];
  topFunctions: Share[];
  /** Each sample counted against the innermost bridge function (dist/src) on its stack. */
  byBridgeFunction: Share[];
}

const SPECIAL = new Set(["(idle)", "(program)", "(garbage collector)", "(root)"]);

/** What a frame belongs to: a special V8 node, Node's own code, an npm package, or a file of the bridge. */
function packageOf(frame: ProfileNode["callFrame"]): string {
  if (SPECIAL.has(frame.functionName)) return frame.functionName;
  const { url } = frame;
  if (url === "") return "(native)";
  if (url.startsWith("node:")) return "node internals";
  const nm = url.lastIndexOf("/node_modules/");
  if (nm >= 0) {
    const parts = url.slice(nm + "/node_modules/".length).split("/");
    return parts[0]!.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  const src = url.indexOf("/dist/src/");
  if (src >= 0) return `bridge: ${url.slice(src + "/dist/src/".length)}`;
  return url;
}

const label = (frame: ProfileNode["callFrame"]): string => {
  const where = packageOf(frame);
  return SPECIAL.has(frame.functionName) ? frame.functionName : `${frame.functionName || "(anonymous)"} (${where}:${frame.lineNumber + 1})`;
};

function shares(totals: Map<string, number>, busyMs: number, top: number): Share[] {
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, ms]) => ({ name, ms: Math.round(ms), percent: Math.round((1000 * ms) / busyMs) / 10 }));
}

/**
 * Summarizes the samples taken between `fromUs` and `toUs` (CLOCK_MONOTONIC microseconds, the clock of
 * the profile's timestamps and of process.hrtime), or all of them when no window is given.
 */
export async function summarizeProfile(file: string, window?: { fromUs: number; toUs: number }): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, "utf8")) as CpuProfile;
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const bridgeFrameOf = new Map<number, string>();
  const innermostBridgeFrame = (id: number): string => {
    const known = bridgeFrameOf.get(id);
    if (known !== undefined) return known;
    const node = nodes.get(id)!;
    const up = parent.get(id);
    const found = node.callFrame.url.includes("/dist/src/") ? label(node.callFrame) : up === undefined ? "(outside the bridge's code)" : innermostBridgeFrame(up);
    bridgeFrameOf.set(id, found);
    return found;
  };

  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  const byBridge = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, ms: number) => map.set(key, (map.get(key) ?? 0) + ms);
  let time = profile.startTime;
  let windowMs = 0;
  let busyMs = 0;
  // Each sample's time is the delta to the next one.
  for (let i = 0; i < profile.samples.length; i++) {
    time += profile.timeDeltas[i]!;
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    if (window && (time < window.fromUs || time > window.toUs)) continue;
    windowMs += ms;
    const node = nodes.get(profile.samples[i]!)!;
    if (node.callFrame.functionName === "(idle)") continue;
    busyMs += ms;
    add(byPackage, packageOf(node.callFrame), ms);
    add(byFunction, label(node.callFrame), ms);
    add(byBridge, SPECIAL.has(node.callFrame.functionName) ? node.callFrame.functionName : innermostBridgeFrame(node.id), ms);
  }
  return {
    windowMs: Math.round(windowMs),
    busyMs: Math.round(busyMs),
    byPackage: shares(byPackage, busyMs, 12),
    topFunctions: shares(byFunction, busyMs, 15),
    byBridgeFunction: shares(byBridge, busyMs, 12),
  };
}
