/**
 * The bridge at scale (`--scale`): many portal MUCs with puppets in them, and many ghosts, written into
 * Redis with the bridge's own store code (src/store), as the bridge keeps them. Then the bridge restarts
 * and every recorded puppet goes back into its MUC: the time that takes, whether a Matrix message still
 * gets through meanwhile, the bridge's RSS once they are all in, and what Redis holds per room, ghost
 * and puppet. Imported once bench/stack.ts has set the environment the test helpers read.
 *
 * The portals' Matrix rooms and the puppets' Matrix users are not created on the homeserver (a thousand
 * rooms would take Synapse many minutes here): rejoining reads only what the store holds and asks the
 * homeserver for each puppet's profile, which for an unknown user is a quick 404. One portal is real,
 * made through the bridge, and carries the probe.
 */
import { loadavg } from "node:os";
import { pino } from "pino";
import { loadConfig } from "../src/config/load.js";
import { ghostUserId } from "../src/core/identity.js";
import { RedisStore } from "../src/store/redis-store.js";
import { addressingOf } from "../src/wiring/adapters.js";
import { BridgeProcess, stack, uniqueName, type LogRecord } from "../test/integration/harness.js";
import { bodyOf, portalScene, putTransaction } from "../test/integration/scenes.js";
import { XmppTestClient } from "../test/integration/xmpp-client.js";
import { redisMemory, sleep, snapshot, type Pids, type ProcSample } from "./measure.js";
import { startBridge, stopBridge } from "./scenarios.js";

export interface ScaleSettings {
  /** Portal MUCs, one puppet in each at first. */
  rooms: number;
  /** Ghosts, and puppets in all (spread over the rooms), for the memory figure. */
  users: number;
}

export interface Rejoin {
  /** Recorded puppets, the probe portal's included. */
  puppets: number;
  rejoined: number;
  failed: number;
  /** From spawning the CLI: its "bridge running" line, and the last puppet back in (or the time out). */
  runningMs: number;
  allRejoinedMs: number;
  /** From the component connection coming online (where rejoining starts) to the last puppet back in. */
  rejoiningMs: number;
  /** A Matrix message sent into the real portal at "bridge running": from its send until the XMPP user had it. */
  probeMs: number;
  probeArrivedDuringRejoin: boolean;
  /** How long the bridge took to answer a homeserver transaction (an empty one) at "bridge running". */
  transactionMs: number;
  /** Once all are in and 10 s later. */
  bridge: ProcSample;
  loadAverage: number[];
}

export interface ScaleResults {
  settings: ScaleSettings;
  /** Redis used_memory each kind of record added, per record. */
  redisBytes: { perRoom: number; perGhost: number; perPuppet: number; total: number; keys: number };
  /** `rooms` MUCs with one puppet each. */
  startup: Rejoin;
  /** And then `users` ghosts and `users` puppets. */
  memory: Rejoin;
}

const silent = pino({ level: "silent" });

/** Runs `task(i)` for i < count, `width` at a time. */
async function inBatches(count: number, width: number, task: (i: number) => Promise<unknown>): Promise<void> {
  for (let start = 0; start < count; start += width) {
    await Promise.all(Array.from({ length: Math.min(width, count - start) }, (_, k) => task(start + k)));
  }
}

/** The bench's rooms and users, named so that a second run in the same Redis writes the same keys. */
function population(rooms: number) {
  const domain = stack.matrixDomain;
  const room = (i: number) => ({ roomId: `!scale${i % rooms}:${domain}`, muc: `scale-${i % rooms}@${stack.mucDomain}` });
  return { room, matrixUser: (i: number) => `@scale-u${i}:${domain}`, xmppUser: (i: number) => `scale-g${i}@${stack.xmppDomain}` };
}

/** Used memory that `write` added to Redis, in bytes. */
async function added(write: () => Promise<void>): Promise<number> {
  const before = await redisMemory(process.env.REDIS_URL!);
  await write();
  return (await redisMemory(process.env.REDIS_URL!)).usedBytes - before.usedBytes;
}

/** What a restart is watched with: the real portal, how many puppets are recorded, how long to wait for them. */
interface RejoinWatch {
  portal: Awaited<ReturnType<typeof portalScene>>;
  puppets: number;
  timeoutMs: number;
  servers: Pids;
  log: (line: string) => void;
}

/** Starts the bridge and follows its rejoining until every recorded puppet is back in, failed, or `timeoutMs` passed. */
async function restartAndRejoin(watch: RejoinWatch): Promise<{ bridge: BridgeProcess; rejoin: Rejoin }> {
  const spawnedAt = Date.now();
  const { bridge, startupMs: runningMs } = await startBridge();
  try {
    return { bridge, rejoin: await followRejoin({ bridge, spawnedAt, runningMs }, watch) };
  } catch (err) {
    await bridge.stop().catch(() => bridge.proc.kill("SIGKILL"));
    throw err;
  }
}

async function followRejoin({ bridge, spawnedAt, runningMs }: { bridge: BridgeProcess; spawnedAt: number; runningMs: number }, watch: RejoinWatch): Promise<Rejoin> {
  const { portal, puppets, timeoutMs, servers, log } = watch;
  const transactionStart = performance.now();
  const answer = await putTransaction(uniqueName("scale-txn"), []);
  if (!answer.ok) throw new Error(`the bridge answered a transaction with ${answer.status}`);
  const transactionMs = performance.now() - transactionStart;
  const probe = uniqueName("scale-probe");
  const probeSentAt = Date.now();
  const probeArrived = portal.xmppUser
    .waitFor((s) => s.is("message") && s.attrs.from === `${portal.room}/Max` && bodyOf(s) === probe, "the probe on XMPP", timeoutMs)
    .then(() => Date.now());
  await portal.matrixUser.sendText(portal.roomId, probe);

  const joined = (r: LogRecord) => r.msg === "puppet joined MUC";
  const failed = (r: LogRecord) => r.msg === "puppet could not rejoin its MUC";
  const deadline = Date.now() + timeoutMs;
  let done: LogRecord[] = [];
  while (Date.now() < deadline) {
    done = bridge.records.filter((r) => joined(r) || failed(r));
    if (done.length >= puppets) break;
    await sleep(250);
  }
  const lastAt = (done.at(-1)?.time as number | undefined) ?? Date.now();
  const onlineAt = bridge.records.find((r) => r.msg === "component connection online")?.time as number;
  const probeArrivedAt = await probeArrived;
  const rejoin = {
    puppets,
    rejoined: done.filter(joined).length,
    failed: done.filter(failed).length,
    runningMs,
    allRejoinedMs: lastAt - spawnedAt,
    rejoiningMs: lastAt - onlineAt,
    probeMs: probeArrivedAt - probeSentAt,
    probeArrivedDuringRejoin: probeArrivedAt <= lastAt,
    transactionMs,
  };
  log(`rejoined ${rejoin.rejoined} of ${puppets} puppets (${rejoin.failed} failed) ${rejoin.allRejoinedMs} ms after the start; the probe took ${rejoin.probeMs} ms`);
  await sleep(10_000);
  return { ...rejoin, bridge: snapshot({ bridge: bridge.proc.pid!, ...servers }).bridge!, loadAverage: loadavg() };
}

export async function runScale(settings: ScaleSettings, servers: Pids, log: (line: string) => void): Promise<ScaleResults> {
  const { rooms, users } = settings;
  const config = await loadConfig(stack.configFile);
  const addressing = addressingOf(config);
  const store = new RedisStore(config.redis, silent);
  const xmppClients: XmppTestClient[] = [];
  const { room, matrixUser, xmppUser } = population(rooms);
  let bridge: BridgeProcess | undefined;
  try {
    await store.connect();
    log("scale: a real portal for the probe, made through the bridge");
    bridge = (await startBridge()).bridge;
    const portal = await portalScene({ xmppClients } as unknown as Parameters<typeof portalScene>[0], "scale");
    await stopBridge(bridge);
    bridge = undefined;

    log(`scale: ${rooms} portal MUCs with a puppet in each, written with the bridge's store`);
    const roomsBytes = await added(() =>
      inBatches(rooms, 100, async (i) => {
        const { roomId, muc } = room(i);
        await store.saveLink({ kind: "portal", roomId, muc });
        await store.setMembership(roomId, matrixUser(i), "join");
        await store.setPuppetOccupancy(muc, matrixUser(i), `u${i}`);
      }),
    );
    const timeout = (puppets: number) => 60_000 + puppets * 200;
    log("scale: restart, and time the rejoining");
    const first = await restartAndRejoin({ portal, puppets: rooms + 1, timeoutMs: timeout(rooms), servers, log });
    await stopBridge(first.bridge);
    bridge = undefined;

    log(`scale: ${users} ghosts and ${users} puppets in all`);
    const ghostsBytes = await added(() =>
      inBatches(users, 100, async (i) => {
        const ghost = ghostUserId(xmppUser(i), addressing);
        await store.setGhostProfile(ghost, { vcardName: `Ghost ${i}` });
        await store.setMembership(room(i).roomId, ghost, "join");
      }),
    );
    const extraPuppets = Math.max(0, users - rooms);
    const puppetsBytes = await added(() =>
      inBatches(extraPuppets, 100, async (k) => {
        const i = rooms + k;
        await store.setMembership(room(i).roomId, matrixUser(i), "join");
        await store.setPuppetOccupancy(room(i).muc, matrixUser(i), `u${i}`);
      }),
    );
    const total = await redisMemory(process.env.REDIS_URL!);
    log("scale: restart, and the bridge's memory once every puppet is back in");
    const second = await restartAndRejoin({ portal, puppets: rooms + extraPuppets + 1, timeoutMs: timeout(rooms + extraPuppets), servers, log });
    bridge = second.bridge;
    return {
      settings,
      redisBytes: { perRoom: roomsBytes / rooms, perGhost: ghostsBytes / users, perPuppet: puppetsBytes / (extraPuppets || 1), total: total.usedBytes, keys: total.keys },
      startup: first.rejoin,
      memory: second.rejoin,
    };
  } finally {
    for (const c of xmppClients) await c.stop();
    if (bridge) await bridge.stop().catch(() => bridge!.proc.kill("SIGKILL"));
    await store.close();
  }
}
