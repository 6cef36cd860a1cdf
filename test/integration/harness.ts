/**
 * What the integration tests share: the real stack that scripts/test.sh started (its settings come in
 * through the environment, from the stack's stack.env), the bridge run as its real CLI process, and
 * real clients on both sides.
 */
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer, type AddressInfo } from "node:net";
import { writeFile, mkdtemp } from "node:fs/promises";
import { createWriteStream } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { before, after } from "node:test";
import { stringify as stringifyYaml, parse as parseYaml } from "yaml";
import { readFileSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";

export const ROOT = new URL("../../../", import.meta.url).pathname;

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the integration tests through scripts/test.sh, which starts the stack`);
  return value;
}

export const stack = {
  dir: required("STACK_DIR"),
  configFile: required("BRIDGE_CONFIG"),
  registrationFile: required("BRIDGE_REGISTRATION"),
  synapseUrl: required("SYNAPSE_URL"),
  matrixDomain: required("MATRIX_DOMAIN"),
  xmppDomain: required("XMPP_DOMAIN"),
  mucDomain: required("MUC_DOMAIN"),
  componentDomain: required("COMPONENT_DOMAIN"),
  c2sPort: Number(required("XMPP_C2S_PORT")),
  /** The Sentinel the stack starts on demand (`start-service sentinel`), and the primary and replica it watches. */
  sentinel: { port: Number(required("SENTINEL_PORT")), primaryPort: Number(required("SENTINEL_PRIMARY_PORT")), replicaPort: Number(required("SENTINEL_REPLICA_PORT")), masterName: required("SENTINEL_MASTER_NAME") },
  /** Which XMPP server the stack runs: prosody (the first one to support) or ejabberd (XMPP_SERVER=ejabberd). */
  xmppServer: (process.env.XMPP_SERVER ?? "prosody") as "prosody" | "ejabberd",
};

export const baseConfig = (): Record<string, any> => parseYaml(readFileSync(stack.configFile, "utf8")) as Record<string, any>;

const execFileAsync = promisify(execFile);

export async function stackCommand(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(join(ROOT, "scripts/stack.sh"), [args[0]!, stack.dir, ...args.slice(1)], { env: process.env });
  return stdout;
}

/**
 * Whether Synapse is holding transactions for the bridge: after one failed, it marks the bridge down, stores
 * each new transaction and drops each new ephemeral event (presence, typing, receipts), and a "recoverer"
 * sends what it stored, in order, once the bridge answers again. Its log says when a recoverer starts and
 * ends, but it logs the end before it marks the bridge up again: a message created in between waits for
 * the next failure, and a presence update is lost (docs/reliability.md). So the state it keeps in its
 * database decides, as its scheduler reads it.
 */
export function homeserverRecovering(): boolean {
  const log = readFileSync(join(stack.dir, "synapse/homeserver.log"), "utf8");
  const count = (line: string) => log.split(line).length - 1;
  return count("Starting recoverer for AS ID") > count("Successfully recovered application service") || appserviceMarkedDown();
}

function appserviceMarkedDown(): boolean {
  const id = (parseYaml(readFileSync(stack.registrationFile, "utf8")) as { id: string }).id;
  const db = new DatabaseSync(join(stack.dir, "synapse/homeserver.db"), { readOnly: true });
  try {
    const row = db.prepare("SELECT state FROM application_services_state WHERE as_id = ?").get(id) as { state: string | null } | undefined;
    return row?.state === "down";
  } finally {
    db.close();
  }
}

export interface LogRecord {
  level: string;
  msg: string;
  [key: string]: unknown;
}

const spawned = new Set<ChildProcess>();
let bridgeRuns = 0;
/** For after() hooks: a test that failed half-way must not leave a bridge running (the runner would wait for it). */
export function killAllBridges(): void {
  for (const proc of spawned) proc.kill("SIGKILL");
}

export class BridgeProcess {
  readonly records: LogRecord[] = [];
  stderr = "";
  private exit: Promise<number | null>;

  /** `configFile`: the config the bridge runs with, which a test may change and signal it to reload. */
  constructor(readonly proc: ChildProcess, logFile: string, readonly configFile: string = stack.configFile) {
    const logStream = createWriteStream(logFile, { flags: "a" });
    proc.once("exit", () => logStream.end());
    proc.stdout!.pipe(logStream, { end: false });
    proc.stderr!.pipe(logStream, { end: false });
    let buffer = "";
    proc.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          this.records.push(JSON.parse(line) as LogRecord);
        } catch {
          this.records.push({ level: "raw", msg: line });
        }
        if (process.env.BRIDGE_LOG) process.stderr.write(`[bridge] ${line}\n`);
      }
    });
    proc.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      this.stderr += chunk;
      if (process.env.BRIDGE_LOG) process.stderr.write(`[bridge:err] ${chunk}`);
    });
    this.exit = once(proc, "exit").then(([code]) => code as number | null);
  }

  /** Resolves with the first log record that matches; rejects if the process exits first. */
  async waitForLog(match: (r: LogRecord) => boolean, timeoutMs = 30_000): Promise<LogRecord> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exit.then(() => (exited = true));
    while (Date.now() < deadline) {
      const found = this.records.find(match);
      if (found) return found;
      if (exited) throw new Error(`bridge exited before the expected log line; stderr: ${this.stderr}\nlogs: ${JSON.stringify(this.records.slice(-10))}`);
      await sleep(50);
    }
    throw new Error(`timed out waiting for a log line; last logs: ${JSON.stringify(this.records.slice(-10))}`);
  }

  async exitCode(timeoutMs = 20_000): Promise<number | null> {
    return withTimeout(this.exit, timeoutMs, "bridge exit");
  }

  async stop(): Promise<number | null> {
    if (this.proc.exitCode !== null) return this.proc.exitCode;
    this.proc.kill("SIGTERM");
    return this.exitCode();
  }
}

/** Runs the real CLI; `config` overrides are merged over the stack's config file. */
export async function runBridge(args: { config?: Record<string, unknown>; extraArgs?: string[] } = {}): Promise<BridgeProcess> {
  let configFile = stack.configFile;
  if (args.config) {
    const dir = await mkdtemp(join(tmpdir(), "mxb-config-"));
    configFile = join(dir, "config.yaml");
    await writeFile(configFile, stringifyYaml(deepMerge(baseConfig(), args.config)));
  }
  const proc = spawn(join(ROOT, "bin/matrix-xmpp-bridge"), ["-c", configFile, "-f", stack.registrationFile, ...(args.extraArgs ?? [])], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  spawned.add(proc);
  proc.once("exit", () => spawned.delete(proc));
  // Every run's log is kept beside the stack's, for reading after a failure.
  return new BridgeProcess(proc, join(stack.dir, `bridge-${process.pid}-${++bridgeRuns}.log`), configFile);
}

export async function startBridge(config?: Record<string, unknown>): Promise<BridgeProcess> {
  const bridge = await runBridge(config ? { config } : {});
  try {
    await bridge.waitForLog((r) => r.msg === "bridge running", 60_000);
  } catch (err) {
    bridge.proc.kill("SIGKILL");
    throw err;
  }
  return bridge;
}

function deepMerge(base: Record<string, any>, over: Record<string, any>): Record<string, any> {
  const out: Record<string, any> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = v && typeof v === "object" && !Array.isArray(v) && typeof base[k] === "object" ? deepMerge(base[k], v) : v;
  }
  return out;
}

/** A port nothing listens on now, from the kernel: for a second bridge beside the suite's, whatever PORT_OFFSET is. */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, "close");
  return port;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * What the test clients' waits share: looks for something in what a client has received, and between
 * looks lets it receive more (a sync, a pause), until `timeoutMs` has passed.
 */
export async function pollFor<T>(find: () => T | undefined, receiveMore: () => Promise<void>, failure: string, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(failure);
    await receiveMore();
  }
}

/**
 * For tests of bursts from one sender (order, durability): without the per-sender rate limit, which
 * would hold the burst's tail. The rate limit's own tests are in fairness.test.ts.
 */
export const NO_RATE_LIMIT = { limits: { perSender: { messagesPerMinute: 0 } } };

/** The alias that opens a MUC's portal: `#_xmpp_room=40service:homeserver`. */
export const portalAliasOf = (muc: string): string => `#_xmpp_${muc.replace("@", "=40")}:${stack.matrixDomain}`;

export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls until the check returns a value other than undefined. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ""}`);
}

let counter = 0;
/** A name no earlier test run used: the stack's data outlives one test file. */
export const uniqueName = (base: string): string => `${base}${Date.now().toString(36)}${(counter++).toString(36)}`;

/**
 * The shared frame of an integration test file: a bridge started before its tests (with config
 * overrides), XMPP users logged in on demand, and everything stopped after, even when a test failed.
 */
export function bridgeSuite(config?: Record<string, unknown> | (() => Promise<Record<string, unknown>>)) {
  const suite = {
    bridge: undefined as unknown as BridgeProcess,
    xmppClients: [] as { stop(): Promise<void> }[],
    /** Stops the bridge (unless a test stopped it already) and starts it again. */
    async restartBridge(): Promise<void> {
      const running = suite.bridge.proc.exitCode === null && suite.bridge.proc.signalCode === null;
      const code = await suite.bridge.stop();
      if (running && code !== 0) throw new Error(`the bridge stopped with exit code ${code}`);
      suite.bridge = await startBridge(typeof config === "function" ? await config() : config);
    },
  };
  before(async () => {
    suite.bridge = await startBridge(typeof config === "function" ? await config() : config);
  });
  after(async () => {
    for (const c of suite.xmppClients) await c.stop();
    await suite.bridge?.stop();
    killAllBridges();
  });
  return suite;
}
