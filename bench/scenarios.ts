/**
 * The measurements on the running stack, with the integration tests' real clients: each path through
 * the bridge, and the same hops without it in the same run. Imported once bench/stack.ts has set the
 * environment the test helpers read.
 */
import { spawn } from "node:child_process";
import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { xml } from "@xmpp/client";
import { BridgeProcess, ROOT, runBridge, stack, uniqueName } from "../test/integration/harness.js";
import { MatrixTestClient } from "../test/integration/matrix-client.js";
import { XmppTestClient } from "../test/integration/xmpp-client.js";
import { bodyOf, directChatScene } from "../test/integration/scenes.js";
import { Arrivals, cpuBetween, paced, percentiles, redisMemory, sleep, snapshot, type Percentiles, type Pids, type Snapshot } from "./measure.js";
import { summarizeProfile, type ProfileSummary } from "./profile.js";

export interface Settings {
  messages: number;
  probes: number;
  rate: number;
  profile: boolean;
}

const WARM_UP = 20;
const SYNC_FILTER = encodeURIComponent(
  JSON.stringify({
    room: { timeline: { limit: 1000 }, state: { lazy_load_members: true }, ephemeral: { types: [] }, account_data: { types: [] } },
    presence: { types: [] },
    account_data: { types: [] },
  }),
);

/** A Matrix user's long-polling sync, noting when each message arrives in any of their rooms. */
export class MatrixWatcher {
  readonly arrivals = new Arrivals();
  /** Syncs that left events out (a limited timeline): arrivals would then be missing. */
  limited = 0;
  private since = "";
  private stopped = false;

  constructor(
    readonly client: MatrixTestClient,
    private readonly onMessage?: (body: string) => void,
  ) {}

  async start(): Promise<this> {
    this.since = (await this.client.request<{ next_batch: string }>("GET", `/_matrix/client/v3/sync?timeout=0&filter=${SYNC_FILTER}`)).next_batch;
    void this.loop();
    return this;
  }

  stop(): void {
    this.stopped = true;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        const res = await this.client.request<any>("GET", `/_matrix/client/v3/sync?timeout=5000&filter=${SYNC_FILTER}&since=${encodeURIComponent(this.since)}`);
        const at = performance.now();
        this.since = res.next_batch;
        for (const room of Object.values<any>(res.rooms?.join ?? {})) {
          if (room.timeline?.limited) this.limited++;
          for (const e of room.timeline?.events ?? []) {
            if (e.type !== "m.room.message" || typeof e.content?.body !== "string") continue;
            this.arrivals.note(e.content.body, at);
            this.onMessage?.(e.content.body);
          }
        }
      } catch {
        await sleep(200);
      }
    }
  }
}

/** Notes when each chat message an XMPP user receives arrives. */
export function xmppArrivals(client: XmppTestClient, onMessage?: (body: string) => void): Arrivals {
  const arrivals = new Arrivals();
  client.onStanza((s) => {
    const body = s.is("message") ? bodyOf(s) : null;
    if (body === null) return;
    arrivals.note(body);
    onMessage?.(body);
  });
  return arrivals;
}

/** Runs tasks one after another, in the order given: what an in-order relay does. */
function inOrder(): (task: () => Promise<unknown>) => void {
  let chain: Promise<unknown> = Promise.resolve();
  return (task) => {
    chain = chain.then(task).catch((err: unknown) => console.error("bench: relay failed:", err));
  };
}

export const chat = (to: string, id: string, body: string) => xml("message", { to, type: "chat", id }, xml("body", {}, body));
export const bodiesOf = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

export interface Throughput {
  messagesPerSecond: number;
  seconds: number;
  inOrder: boolean;
}

/** Sends the bodies one after another (each send awaited), and times until the last of them arrived. */
async function burst(prefix: string, n: number, send: (body: string) => Promise<unknown>, arrivals: Arrivals): Promise<Throughput> {
  const bodies = bodiesOf(prefix, n);
  const start = performance.now();
  for (const body of bodies) await send(body);
  const arrived = await Promise.all(bodies.map((b) => arrivals.waitFor(b, 120_000 + n * 500)));
  const seconds = (Math.max(...arrived) - start) / 1000;
  return { messagesPerSecond: n / seconds, seconds, inOrder: arrivals.inOrder(prefix, bodies) };
}

/** Sends `count` probes at `rate` per second without waiting for one another; each one's time to arrive, in ms. */
async function probeLatency(prefix: string, count: number, rate: number, send: (body: string) => void, arrivals: Arrivals): Promise<Percentiles> {
  const sent = new Map<string, number>();
  await paced(count, rate, (i) => {
    const body = `${prefix}${i}`;
    sent.set(body, performance.now());
    send(body);
  });
  const arrived = await Promise.all([...sent.keys()].map((b) => arrivals.waitFor(b, 60_000)));
  return percentiles([...sent.values()].map((t, i) => arrived[i]! - t));
}

let profileRuns = 0;

/** Starts the bridge's CLI and times it to "bridge running"; with a profile dir, under node --cpu-prof. */
export async function startBridge(profileDir?: string): Promise<{ bridge: BridgeProcess; startupMs: number }> {
  const spawnedAt = Date.now();
  let bridge: BridgeProcess;
  if (profileDir) {
    const proc = spawn(
      join(ROOT, "scripts/with-node.sh"),
      // The flags of bin/matrix-xmpp-bridge, and the profiler's.
      ["--cpu-prof", `--cpu-prof-dir=${profileDir}`, "--max-semi-space-size=4", "--optimize-for-size", "--disable-warning=DEP0060", join(ROOT, "dist/src/cli.js"), "-c", stack.configFile, "-f", stack.registrationFile],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    bridge = new BridgeProcess(proc, join(stack.dir, `bridge-profiled-${++profileRuns}.log`));
  } else {
    bridge = await runBridge();
  }
  const running = await bridge.waitForLog((r) => r.msg === "bridge running", 60_000);
  return { bridge, startupMs: (running.time as number) - spawnedAt };
}

export async function stopBridge(bridge: BridgeProcess): Promise<void> {
  const code = await bridge.stop();
  if (code !== 0) throw new Error(`the bridge stopped with exit code ${code}`);
}

export interface ScenarioResults {
  startupMs: number[];
  idle: { snapshot: Snapshot; cpuPercent: Record<string, number> };
  afterLoad: Snapshot;
  throughput: {
    xmppToMatrix: Throughput;
    /** The mean of a run before the bridged ones and one after. */
    matrixSequential: Throughput & { runs: number[] };
    matrixToXmpp: Throughput;
    xmppOneToOne: Throughput;
  };
  /** CPU ms per message of each process in each throughput run. */
  cpuPerMessage: Record<"xmppToMatrix" | "matrixSequential" | "matrixToXmpp" | "xmppOneToOne", Record<string, number>>;
  latency: {
    /** Probes per second: the rate asked for, at most half the homeserver's sequential rate. */
    rate: number;
    xmppToMatrix: { bridged: Percentiles; withoutBridge: Percentiles };
    matrixToXmpp: { bridged: Percentiles; withoutBridge: Percentiles };
  };
  redis: { before: { usedBytes: number; keys: number }; after: { usedBytes: number; keys: number }; messages: number };
  limitedSyncs: number;
  profile?: { file: string; throughput: { xmppToMatrix: Throughput; matrixToXmpp: Throughput }; summary: ProfileSummary };
}

export async function runScenarios(settings: Settings, servers: Pids, log: (line: string) => void): Promise<ScenarioResults> {
  const { messages: n, probes } = settings;
  const xmppClients: XmppTestClient[] = [];
  const watchers: MatrixWatcher[] = [];
  let bridge: BridgeProcess | undefined;
  const pids = (): Pids => ({ bridge: bridge!.proc.pid!, ...servers });
  try {
    // Start-up: a first start on an empty Redis, then two restarts.
    const startupMs: number[] = [];
    for (let i = 0; i < 3; i++) {
      if (bridge) await stopBridge(bridge);
      const started = await startBridge();
      bridge = started.bridge;
      startupMs.push(started.startupMs);
    }
    log(`start-up: ${startupMs.map((ms) => `${ms} ms`).join(", ")}`);

    log("idle: 5 s to settle, then 10 s measured");
    await sleep(5000);
    const idleStart = snapshot(pids());
    await sleep(10_000);
    const idleEnd = snapshot(pids());
    const idleCpu = cpuBetween(idleStart, idleEnd);
    const idleSeconds = (idleEnd.bridge!.at - idleStart.bridge!.at) / 1000;
    const idle = { snapshot: idleEnd, cpuPercent: Object.fromEntries(Object.entries(idleCpu).map(([k, ms]) => [k, ms / 10 / idleSeconds])) };

    log("users: a direct chat through the bridge, a Matrix room and an XMPP pair without it");
    const dm = await directChatScene({ xmppClients } as unknown as Parameters<typeof directChatScene>[0], { id: "first", body: "hello" });
    const xmppSender = dm.xmppUser;
    const [xa, xb] = [await XmppTestClient.login(uniqueName("xa")), await XmppTestClient.login(uniqueName("xb"))];
    xmppClients.push(xa, xb);
    const [ma, mb] = [await MatrixTestClient.register(uniqueName("ma")), await MatrixTestClient.register(uniqueName("mb"))];
    const plainRoom = await ma.createRoom({ preset: "trusted_private_chat", is_direct: true, invite: [mb.userId] });
    await mb.join(plainRoom);

    // The relays that stand for a bridge that costs nothing: the same hops, passed on in order at once.
    const relayToMatrix = inOrder();
    const relayToXmpp = inOrder();
    const dmWatcher = await new MatrixWatcher(dm.matrixUser).start();
    const mbWatcher = await new MatrixWatcher(mb, (body) => {
      if (body.startsWith("lmr")) relayToXmpp(() => xa.send(chat(xb.jid, body, body)));
    }).start();
    watchers.push(dmWatcher, mbWatcher);
    const xmppSenderArrivals = xmppArrivals(xmppSender);
    const xbArrivals = xmppArrivals(xb, (body) => {
      if (body.startsWith("lxr")) relayToMatrix(() => ma.sendText(plainRoom, body));
    });

    const xmppToBridge = (body: string) => xmppSender.send(chat(dm.puppet, body, body));
    const matrixToBridge = (body: string) => dm.matrixUser.sendText(dm.roomId, body);
    const matrixPlain = (body: string) => ma.sendText(plainRoom, body);
    const xmppPlain = (body: string) => xa.send(chat(xb.jid, body, body));

    log("warm-up");
    await burst("wxm", WARM_UP, xmppToBridge, dmWatcher.arrivals);
    await burst("wmx", WARM_UP, matrixToBridge, xmppSenderArrivals);
    await burst("wmm", WARM_UP, matrixPlain, mbWatcher.arrivals);
    await burst("wxx", WARM_UP, xmppPlain, xbArrivals);
    await sleep(2000);
    const redisBefore = await redisMemory(process.env.REDIS_URL!);

    const cpuPerMessage = {} as ScenarioResults["cpuPerMessage"];
    const measured = async (name: keyof ScenarioResults["cpuPerMessage"], run: () => Promise<Throughput>): Promise<Throughput> => {
      const before = snapshot(pids());
      const result = await run();
      const cpu = cpuBetween(before, snapshot(pids()));
      cpuPerMessage[name] = Object.fromEntries(Object.entries(cpu).map(([k, ms]) => [k, ms / n]));
      log(`${name}: ${result.messagesPerSecond.toFixed(1)} messages/s${result.inOrder ? "" : " (NOT in order)"}`);
      await sleep(2000);
      return result;
    };
    log(`throughput: ${n} messages each way`);
    // The homeserver's rate, before and after the bridged runs: its mean is what they are compared with.
    const matrixBefore = await measured("matrixSequential", () => burst("tmm", n, matrixPlain, mbWatcher.arrivals));
    const xmppToMatrix = await measured("xmppToMatrix", () => burst("txm", n, xmppToBridge, dmWatcher.arrivals));
    const xmppOneToOne = await measured("xmppOneToOne", () => burst("txx", n, xmppPlain, xbArrivals));
    const matrixToXmpp = await measured("matrixToXmpp", () => burst("tmx", n, matrixToBridge, xmppSenderArrivals));
    const matrixAfter = await burst("tma", n, matrixPlain, mbWatcher.arrivals);
    log(`matrixSequential again: ${matrixAfter.messagesPerSecond.toFixed(1)} messages/s`);
    const matrixSequential = {
      messagesPerSecond: (matrixBefore.messagesPerSecond + matrixAfter.messagesPerSecond) / 2,
      seconds: (matrixBefore.seconds + matrixAfter.seconds) / 2,
      inOrder: matrixBefore.inOrder && matrixAfter.inOrder,
      runs: [matrixBefore.messagesPerSecond, matrixAfter.messagesPerSecond],
    };

    // Probes sent faster than the slowest hop takes them would measure its queue, not its latency.
    const rate = Math.min(settings.rate, Math.floor(matrixSequential.messagesPerSecond / 2) || 1);
    log(`latency: ${probes} probes at ${rate}/s each way, with the bridge and with an in-order relay instead`);
    const latency = {
      rate,
      xmppToMatrix: {
        bridged: await probeLatency("lxm", probes, rate, (b) => void xmppToBridge(b), dmWatcher.arrivals),
        withoutBridge: await probeLatency("lxr", probes, rate, (b) => void xmppPlain(b), mbWatcher.arrivals),
      },
      matrixToXmpp: {
        bridged: await probeLatency("lmx", probes, rate, (b) => void matrixToBridge(b), xmppSenderArrivals),
        withoutBridge: await probeLatency("lmr", probes, rate, (b) => void matrixPlain(b), xbArrivals),
      },
    };
    for (const [way, l] of [["XMPP→Matrix", latency.xmppToMatrix], ["Matrix→XMPP", latency.matrixToXmpp]] as const) log(`${way}: p50 ${l.bridged.p50.toFixed(1)} ms with the bridge, ${l.withoutBridge.p50.toFixed(1)} ms without`);

    await sleep(5000);
    const afterLoad = snapshot(pids());
    const redisAfter = await redisMemory(process.env.REDIS_URL!);

    let profile: ScenarioResults["profile"];
    if (settings.profile) {
      log("profile: the bridge again under --cpu-prof, through both throughput runs");
      await stopBridge(bridge!);
      const dir = join(stack.dir, "profiles");
      await mkdir(dir, { recursive: true });
      bridge = (await startBridge(dir)).bridge;
      const pid = bridge.proc.pid!;
      await burst("pwxm", WARM_UP, xmppToBridge, dmWatcher.arrivals);
      await burst("pwmx", WARM_UP, matrixToBridge, xmppSenderArrivals);
      const fromUs = Number(process.hrtime.bigint() / 1000n);
      const throughput = {
        xmppToMatrix: await burst("pxm", n, xmppToBridge, dmWatcher.arrivals),
        matrixToXmpp: await burst("pmx", n, matrixToBridge, xmppSenderArrivals),
      };
      const toUs = Number(process.hrtime.bigint() / 1000n);
      await stopBridge(bridge);
      bridge = undefined;
      const file = (await readdir(dir)).filter((f) => f.includes(`.${pid}.`) && f.endsWith(".cpuprofile")).sort().at(-1);
      if (!file) throw new Error(`no CPU profile of pid ${pid} in ${dir}`);
      profile = { file: join(dir, file), throughput, summary: await summarizeProfile(join(dir, file), { fromUs, toUs }) };
    }

    return {
      startupMs,
      idle,
      afterLoad,
      throughput: { xmppToMatrix, matrixSequential, matrixToXmpp, xmppOneToOne },
      cpuPerMessage,
      latency,
      redis: { before: redisBefore, after: redisAfter, messages: 2 * n + 2 * probes },
      limitedSyncs: watchers.reduce((sum, w) => sum + w.limited, 0),
      ...(profile ? { profile } : {}),
    };
  } finally {
    for (const w of watchers) w.stop();
    for (const c of xmppClients) await c.stop();
    if (bridge) await bridge.stop().catch(() => bridge!.proc.kill("SIGKILL"));
  }
}
