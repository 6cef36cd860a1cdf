/**
 * The benchmark's own stack: the same scripts/stack.sh that npm test uses (Redis, Prosody, Synapse on
 * loopback), in its own state dir, on ports shifted by PORT_OFFSET as scripts/test.sh shifts them, and
 * the bridge as its real CLI process with a config of production settings (info logs).
 */
import { execFile, spawn } from "node:child_process";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { stringify as stringifyYaml } from "yaml";

const execFileAsync = promisify(execFile);

export const ROOT = new URL("../../", import.meta.url).pathname;

export interface BenchStack {
  dir: string;
  configFile: string;
  registrationFile: string;
  redisUrl: string;
  /** Seconds `scripts/stack.sh up` took. */
  upSeconds: number;
}

/** The stack's settings for the integration test helpers, which read them from the environment. */
const STACK_ENV_KEYS = ["SYNAPSE_URL", "MATRIX_DOMAIN", "XMPP_DOMAIN", "MUC_DOMAIN", "COMPONENT_DOMAIN", "XMPP_C2S_PORT", "REDIS_URL", "SENTINEL_PORT", "SENTINEL_PRIMARY_PORT", "SENTINEL_REPLICA_PORT", "SENTINEL_MASTER_NAME"];

async function stackScript(...args: string[]): Promise<void> {
  const child = spawn(join(ROOT, "scripts/stack.sh"), args, { stdio: ["ignore", "inherit", "inherit"], env: process.env });
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  if (code !== 0) throw new Error(`scripts/stack.sh ${args.join(" ")} exited with ${code}`);
}

/** Starts a fresh stack (its state dir emptied first) and points the test helpers' environment at it. */
export async function stackUp(): Promise<BenchStack> {
  const off = Number(process.env.PORT_OFFSET ?? 0);
  const dir = process.env.STACK_DIR ?? join(ROOT, ".stack", off ? `bench-${off}` : "bench");
  const ports = { as: 19000 + off, metrics: 19001 + off, media: 19002 + off };
  Object.assign(process.env, {
    STACK_DIR: dir,
    REDIS_PORT: String(16379 + off),
    XMPP_C2S_PORT: String(15222 + off),
    XMPP_COMPONENT_PORT: String(15347 + off),
    XMPP_HTTP_PORT: String(15280 + off),
    SYNAPSE_PORT: String(18008 + off),
    MATRIX_DOMAIN: "matrix.test",
    XMPP_DOMAIN: "xmpp.test",
    COMPONENT_DOMAIN: "matrix.xmpp.test",
    COMPONENT_SECRET: "bench-component-secret",
  });
  const env = process.env as Record<string, string>;
  await stackScript("down", dir).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const configFile = join(dir, "config.yaml");
  const registrationFile = join(dir, "registration.yaml");
  const config = {
    homeserver: { url: `http://127.0.0.1:${env.SYNAPSE_PORT}`, domain: env.MATRIX_DOMAIN },
    appservice: { bindAddress: "127.0.0.1", port: ports.as },
    xmpp: { service: `xmpp://127.0.0.1:${env.XMPP_COMPONENT_PORT}`, domain: env.COMPONENT_DOMAIN, password: env.COMPONENT_SECRET },
    redis: { url: `redis://127.0.0.1:${env.REDIS_PORT}/0` },
    metrics: { bindAddress: "127.0.0.1", port: ports.metrics },
    // What a production bridge logs: debug logs would be part of what is measured.
    logging: { level: "info", format: "json" },
    media: { port: ports.media, publicUrl: `http://127.0.0.1:${ports.media}/media` },
    // What is measured is the bridge's own path: the per-sender rate limit would pace one sender's burst.
    limits: { perSender: { messagesPerMinute: 0 } },
  };
  await writeFile(configFile, stringifyYaml(config));
  await execFileAsync(join(ROOT, "bin/matrix-xmpp-bridge"), ["-r", "-u", `http://127.0.0.1:${ports.as}`, "-c", configFile, "-f", registrationFile]);

  // Synapse loads the bridge's registration at start.
  process.env.REGISTRATION = registrationFile;
  const started = performance.now();
  await stackScript("up", dir);
  const upSeconds = (performance.now() - started) / 1000;
  // stack.env is written with printf %q: the shell reads it back.
  const { stdout } = await execFileAsync("bash", ["-c", 'set -a; . "$1"; env -0', "_", join(dir, "stack.env")]);
  for (const pair of stdout.split("\0")) {
    const eq = pair.indexOf("=");
    const key = pair.slice(0, eq);
    if (STACK_ENV_KEYS.includes(key)) process.env[key] = pair.slice(eq + 1);
  }
  Object.assign(process.env, { BRIDGE_CONFIG: configFile, BRIDGE_REGISTRATION: registrationFile });
  return { dir, configFile, registrationFile, redisUrl: process.env.REDIS_URL!, upSeconds };
}

export async function stackDown(dir: string): Promise<void> {
  await stackScript("down", dir);
}

/** The pids of the stack's servers, from the pid files scripts/stack.sh keeps in its state dir. */
export async function serverPids(dir: string): Promise<Record<"synapse" | "prosody" | "redis", number>> {
  const pidOf = async (name: string) => Number((await readFile(join(dir, `${name}.pid`), "utf8")).trim());
  return { synapse: await pidOf("synapse"), prosody: await pidOf("prosody"), redis: await pidOf("redis") };
}
