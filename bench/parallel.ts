/**
 * Many rooms at once, and many messages: `--rooms-parallel N` direct chats (20) carrying bursts at the
 * same time, against as many Matrix clients sending into rooms of their own in the same run; then a soak
 * of `--soak N` messages (10,000) through those chats, both ways, and the bridge's memory before and
 * after. Imported once bench/stack.ts has set the environment the test helpers read.
 */
import { loadavg } from "node:os";
import type { BridgeProcess } from "../test/integration/harness.js";
import { uniqueName } from "../test/integration/harness.js";
import { MatrixTestClient } from "../test/integration/matrix-client.js";
import type { XmppTestClient } from "../test/integration/xmpp-client.js";
import { directChatScene } from "../test/integration/scenes.js";
import { type Arrivals, sleep, snapshot, type ProcSample } from "./measure.js";
import { bodiesOf, chat, MatrixWatcher, startBridge, stopBridge, type Throughput, xmppArrivals } from "./scenarios.js";

export interface ParallelSettings {
  rooms: number;
  /** Messages per room in each throughput run. */
  messages: number;
  /** Messages in the soak, in all (half each way). */
  soak: number;
}

export interface ParallelResults {
  settings: ParallelSettings;
  /** XMPP→Matrix, every room's burst at once. */
  bridged: Throughput;
  /** Matrix→XMPP, every room's Matrix user sending in sequence, all at once. */
  bridgedMatrixToXmpp: Throughput;
  /** As many Matrix clients, each sending in sequence into a room of its own, all at once; mean of a run before and after. */
  withoutBridge: Throughput & { runs: number[] };
  memory: { idle: ProcSample; afterSoak: ProcSample; soakSeconds: number; soakMessages: number; inOrder: boolean };
  loadAverage: number[];
}

interface Lane {
  /** Sends one message; resolves once the sender may send the next. */
  send: (body: string) => Promise<unknown>;
  arrivals: Arrivals;
}

/** Every lane sends its bodies one after another, all lanes at once; the time until the last message of all arrived. */
async function allAtOnce(prefix: string, n: number, lanes: readonly Lane[]): Promise<Throughput> {
  const bodies = lanes.map((_, i) => bodiesOf(`${prefix}${i}.`, n));
  const start = performance.now();
  await Promise.all(lanes.map(async (lane, i) => {
    for (const body of bodies[i]!) await lane.send(body);
  }));
  const timeout = 300_000 + n * lanes.length * 200;
  const arrived = await Promise.all(lanes.flatMap((lane, i) => bodies[i]!.map((b) => lane.arrivals.waitFor(b, timeout))));
  const seconds = (Math.max(...arrived) - start) / 1000;
  return { messagesPerSecond: (n * lanes.length) / seconds, seconds, inOrder: lanes.every((lane, i) => lane.arrivals.inOrder(`${prefix}${i}.`, bodies[i]!)) };
}

export async function runParallel(settings: ParallelSettings, log: (line: string) => void): Promise<ParallelResults> {
  const xmppClients: XmppTestClient[] = [];
  const watchers: MatrixWatcher[] = [];
  let bridge: BridgeProcess | undefined;
  try {
    bridge = (await startBridge()).bridge;
    const pid = bridge.proc.pid!;
    await sleep(15_000);
    const idle = snapshot({ bridge: pid }).bridge!;
    log(`parallel: ${settings.rooms} direct chats through the bridge, ${settings.rooms} Matrix rooms without it`);
    const suite = { xmppClients } as unknown as Parameters<typeof directChatScene>[0];
    const xmppToMatrix: Lane[] = [];
    const matrixToXmpp: Lane[] = [];
    const plain: Lane[] = [];
    for (let i = 0; i < settings.rooms; i++) {
      const dm = await directChatScene(suite, { id: `first${i}`, body: "hello" });
      const watcher = await new MatrixWatcher(dm.matrixUser).start();
      watchers.push(watcher);
      xmppToMatrix.push({ send: (body) => dm.xmppUser.send(chat(dm.puppet, body, body)), arrivals: watcher.arrivals });
      matrixToXmpp.push({ send: (body) => dm.matrixUser.sendText(dm.roomId, body), arrivals: xmppArrivals(dm.xmppUser) });
      // The same Matrix user also receives a plain room's messages: the same number of syncs with or without the bridge.
      const sender = await MatrixTestClient.register(uniqueName("mp"));
      const room = await sender.createRoom({ preset: "trusted_private_chat", is_direct: true, invite: [dm.matrixUser.userId] });
      await dm.matrixUser.join(room);
      plain.push({ send: (body) => sender.sendText(room, body), arrivals: watcher.arrivals });
    }
    log("parallel: warm-up");
    await allAtOnce("pw", 3, xmppToMatrix);
    await allAtOnce("pv", 3, plain);
    await sleep(2000);

    const n = settings.messages;
    const before = await allAtOnce("pb", n, plain);
    log(`parallel without the bridge: ${before.messagesPerSecond.toFixed(1)} messages/s`);
    const bridged = await allAtOnce("px", n, xmppToMatrix);
    log(`parallel XMPP→Matrix: ${bridged.messagesPerSecond.toFixed(1)} messages/s${bridged.inOrder ? "" : " (NOT in order)"}`);
    const bridgedMatrixToXmpp = await allAtOnce("pm", n, matrixToXmpp);
    log(`parallel Matrix→XMPP: ${bridgedMatrixToXmpp.messagesPerSecond.toFixed(1)} messages/s${bridgedMatrixToXmpp.inOrder ? "" : " (NOT in order)"}`);
    const after = await allAtOnce("pa", n, plain);
    log(`parallel without the bridge again: ${after.messagesPerSecond.toFixed(1)} messages/s`);
    const withoutBridge = {
      messagesPerSecond: (before.messagesPerSecond + after.messagesPerSecond) / 2,
      seconds: (before.seconds + after.seconds) / 2,
      inOrder: before.inOrder && after.inOrder,
      runs: [before.messagesPerSecond, after.messagesPerSecond],
    };

    const perLane = Math.max(1, Math.round(settings.soak / 2 / settings.rooms));
    log(`soak: ${perLane * settings.rooms * 2} messages, ${perLane} each way in each chat`);
    const soakStart = performance.now();
    const [soakIn, soakOut] = await Promise.all([allAtOnce("sx", perLane, xmppToMatrix), allAtOnce("sm", perLane, matrixToXmpp)]);
    const soakSeconds = (performance.now() - soakStart) / 1000;
    await sleep(10_000);
    const afterSoak = snapshot({ bridge: pid }).bridge!;
    log(`soak: ${soakSeconds.toFixed(0)} s; bridge RSS ${idle.rssMb.toFixed(1)} MB idle, ${afterSoak.rssMb.toFixed(1)} MB after`);
    return {
      settings,
      bridged,
      bridgedMatrixToXmpp,
      withoutBridge,
      memory: { idle, afterSoak, soakSeconds, soakMessages: perLane * settings.rooms * 2, inOrder: soakIn.inOrder && soakOut.inOrder },
      loadAverage: loadavg(),
    };
  } finally {
    for (const w of watchers) w.stop();
    for (const c of xmppClients) await c.stop();
    if (bridge) await stopBridge(bridge).catch(() => bridge!.proc.kill("SIGKILL"));
  }
}
