/**
 * Two bridge instances on one Redis: the one holding the lease is active, the other waits on standby and
 * takes over when the active one dies. The homeserver has one URL for the appservice, as behind a load
 * balancer: a forwarder on the registration's port sends each request to whichever instance's /ready
 * answers 200.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, request, type Server } from "node:http";
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import pino from "pino";
import { RedisStore } from "../../src/store/redis-store.js";
import { FencedError } from "../../src/store/lease.js";
import { conversationScene } from "./scenes.js";
import { baseConfig, eventually, killAllBridges, runBridge, sleep, stack, uniqueName, type BridgeProcess, type LogRecord } from "./harness.js";

const registrationUrlPort = (baseConfig().appservice as { port: number }).port;
/** Each instance's listeners, beside the stack's ports. */
const portsOf = (n: number) => ({ appservice: registrationUrlPort + 10 + n, metrics: registrationUrlPort + 20 + n, media: registrationUrlPort + 30 + n });
const LEASE_SECONDS = 2;

const ready = async (port: number): Promise<boolean> => (await fetch(`http://127.0.0.1:${port}/ready`, { signal: AbortSignal.timeout(4000) }).catch(() => undefined))?.status === 200;

/** Forwards every request to the first instance whose /ready answers 200, as a load balancer's health check would. */
function readyForwarder(port: number, targets: readonly number[]): Promise<Server> {
  const server = createServer((req, res) => {
    void (async () => {
      let target: number | undefined;
      for (const candidate of targets) if (target === undefined && (await ready(candidate))) target = candidate;
      if (target === undefined) {
        res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ errcode: "M_UNKNOWN", error: "no instance is ready" }));
        return;
      }
      const upstream = request({ host: "127.0.0.1", port: target, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on("error", () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
      req.pipe(upstream);
    })();
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}

function instance(name: string, n: number): Promise<BridgeProcess> {
  const ports = portsOf(n);
  return runBridge({
    config: {
      appservice: { port: ports.appservice },
      metrics: { port: ports.metrics },
      media: { port: ports.media, publicUrl: `http://127.0.0.1:${ports.media}/media` },
      ha: { enabled: true, leaseSeconds: LEASE_SECONDS, instanceId: name },
    },
  });
}

/** Each body once, where it was first seen. */
const firstSeen = (bodies: string[]): string[] => bodies.filter((b, i) => bodies.indexOf(b) === i);

const acquired = (r: LogRecord) => r.msg === "acquired the lease: this instance is active";
const running = (r: LogRecord) => r.msg === "bridge running";
/** The bridges in the order they were started; the suite's scenes need only somewhere to keep their clients. */
const bridges: BridgeProcess[] = [];
const suite = { xmppClients: [] as { stop(): Promise<void> }[] };
let forwarder: Server;

before(async () => {
  forwarder = await readyForwarder(registrationUrlPort, [portsOf(0).appservice, portsOf(1).appservice]);
  bridges.push(await instance("alpha", 0));
  await bridges[0]!.waitForLog(acquired, 60_000);
  await bridges[0]!.waitForLog(running, 60_000);
  bridges.push(await instance("beta", 1));
  await bridges[1]!.waitForLog(running, 60_000);
});

after(async () => {
  for (const c of suite.xmppClients) await c.stop();
  for (const b of bridges) await b.stop();
  killAllBridges();
  await new Promise((resolve) => forwarder?.close(resolve));
});

test("the standby is live but not ready, refuses transactions for the homeserver to retry, and holds no component connection", async () => {
  const [active, standby] = [portsOf(0), portsOf(1)];
  assert.equal((await fetch(`http://127.0.0.1:${standby.appservice}/live`)).status, 200);
  const probe = await fetch(`http://127.0.0.1:${standby.appservice}/ready`);
  assert.equal(probe.status, 503);
  assert.equal(((await probe.json()) as { status: string }).status, "standby");
  assert.equal(await ready(active.appservice), true);

  const { hs_token } = parseYaml(readFileSync(stack.registrationFile, "utf8")) as { hs_token: string };
  const refused = await fetch(`http://127.0.0.1:${standby.appservice}/_matrix/app/v1/transactions/standby-${Date.now()}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${hs_token}`, "content-type": "application/json" },
    body: JSON.stringify({ events: [] }),
  });
  assert.equal(refused.status, 503);
  assert.equal(((await refused.json()) as { errcode: string }).errcode, "M_UNKNOWN");

  const metrics = async (port: number) => await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  assert.match(await metrics(standby.metrics), /^bridge_active 0$/m);
  assert.match(await metrics(standby.metrics), /^bridge_connection_up\{peer="xmpp"\} 0$/m);
  assert.match(await metrics(active.metrics), /^bridge_active 1$/m);
  assert.ok(!bridges[1]!.records.some((r) => r.msg === "component connection online"), "the standby never connected the component");
});

test("the active instance is killed mid-conversation: the standby takes over, and every message arrives once, in order, both ways", async () => {
  const talk = await conversationScene(suite, "standby", 30);
  await talk.underWay(5);
  await talk.holdMatrix();
  bridges[0]!.proc.kill("SIGKILL");
  await bridges[0]!.exitCode();

  const takenOver = await bridges[1]!.waitForLog(acquired, 60_000);
  // The new active instance has the homeserver ping it, so that what Synapse holds comes now, not at its next retry.
  await bridges[1]!.waitForLog((r) => r.msg === "homeserver ping" && (r.time as number) >= (takenOver.time as number), 30_000);
  await talk.speakAgain();
  await talk.finished();
  assert.deepEqual(await talk.toMatrix(), talk.said("x"));
  // A stanza in flight when the active instance died may be sent again, with the same id and origin-id: never more, never out of order.
  assert.deepEqual(firstSeen(talk.toXmpp()), talk.said("m"));
  const repeats = talk.toXmpp().length - talk.said("m").length;
  assert.ok(repeats <= 1, `at most one repeat (saw ${repeats})`);
});

test("an active instance frozen past its lease steps down when it wakes, and the one that took over goes on: every message arrives once", async () => {
  bridges.push(await instance("gamma", 0));
  const [frozen, next] = [bridges[1]!, bridges[2]!];
  await next.waitForLog(running, 60_000);
  const talk = await conversationScene(suite, "frozen", 20);
  await talk.underWay(3);
  await talk.holdMatrix();
  frozen.proc.kill("SIGSTOP");
  try {
    await next.waitForLog(acquired, 60_000);
    await sleep(LEASE_SECONDS * 1000);
  } finally {
    frozen.proc.kill("SIGCONT");
  }
  const lost = await frozen.waitForLog((r) => r.msg === "lost the lease: this instance is on standby", 30_000);
  assert.ok(typeof lost.reason === "string");
  await eventually(async () => (next.records.some((r) => r.msg === "component connection online") ? true : undefined), "the new active instance's component connection", 60_000);
  await talk.speakAgain();
  await talk.finished();
  // ejabberd spreads a component domain's stanzas over every connection for it, the frozen one's too: what
  // that one read when it woke reaches Matrix once, but after later messages (docs/reliability.md).
  const order = (bodies: string[]) => (stack.xmppServer === "ejabberd" ? [...bodies].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1))) : bodies);
  assert.deepEqual(order(await talk.toMatrix()), talk.said("x"));
  assert.deepEqual(firstSeen(talk.toXmpp()), talk.said("m"));
  assert.equal((await fetch(`http://127.0.0.1:${portsOf(1).appservice}/ready`)).status, 503, "the woken instance is on standby");
});

test("a write of an instance whose lease passed on is refused in each lane the new holder claimed, and the lease renews only for its holder", async () => {
  const log = pino({ level: "silent" });
  const settings = { url: baseConfig().redis.url as string, keyPrefix: `${uniqueName("fence")}:` };
  const [first, second] = [new RedisStore(settings, log), new RedisStore(settings, log)];
  await Promise.all([first.connect(), second.connect()]);
  try {
    const token = await first.acquireLease("first", 300);
    assert.ok(token !== undefined);
    first.fence(token);
    assert.equal(await second.acquireLease("second", 300), undefined, "the lease is held");
    await first.appendToOutbox({ lane: "matrix:!fenced", payload: "one" });
    const newer = await eventually(() => second.acquireLease("second", 60_000), "the first lease to expire");
    assert.equal(newer, token + 1);
    assert.equal(await first.renewLease("first", token, 300), false);
    second.fence(newer);
    // The new holder claims a lane as it reads it, and a conversation's message map as it writes there.
    assert.deepEqual(await second.peekOutbox("matrix:!fenced", 10), ["one"]);
    await second.recordMessage({ roomId: "!fenced", eventId: "$new", conversation: "c", ids: { id: "j" } }, 60);
    await assert.rejects(first.removeFromOutbox("matrix:!fenced", ["one"]), FencedError);
    await assert.rejects(first.peekOutbox("matrix:!fenced", 10), FencedError);
    await assert.rejects(first.recordMessage({ roomId: "!fenced", eventId: "$fenced", conversation: "c", ids: { id: "i" } }, 60), FencedError);
    assert.equal(await second.messageByEventId("$fenced"), undefined);
    await second.removeFromOutbox("matrix:!fenced", ["one"]);
    assert.deepEqual(await second.peekOutbox("matrix:!fenced", 10), []);
    assert.equal(await second.renewLease("second", newer, 60_000), true);
  } finally {
    await Promise.all([first.close(), second.close()]);
  }
});
