import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { xml } from "@xmpp/client";
import { MatrixTestClient } from "./matrix-client.js";
import { XmppTestClient } from "./xmpp-client.js";
import { freePort, killAllBridges, runBridge, startBridge, stack, stackCommand, eventually, baseConfig, uniqueName, type BridgeProcess } from "./harness.js";

const metricsUrl = (): string => {
  const m = baseConfig().metrics as { bindAddress: string; port: number };
  return `http://${m.bindAddress}:${m.port}`;
};

let bridge: BridgeProcess;
let xmppUser: XmppTestClient;

before(async () => {
  bridge = await startBridge();
  xmppUser = await XmppTestClient.login(uniqueName("found"));
});

after(async () => {
  await xmppUser?.stop();
  await bridge?.stop();
  killAllBridges();
});

test("the bridge bot is registered on the homeserver with its display name", async () => {
  const reg = baseConfig();
  const user = await MatrixTestClient.register(uniqueName("profile"));
  const profile = await user.request("GET", `/_matrix/client/v3/profile/${encodeURIComponent(`@${reg.bridge?.botLocalpart ?? "xmppbot"}:${stack.matrixDomain}`)}`);
  assert.equal(profile.displayname, reg.bridge?.botDisplayName ?? "XMPP bridge");
});

test("the homeserver pinged the appservice listener at start-up", () => {
  const line = bridge.records.find((r) => r.msg === "the homeserver reaches the appservice listener");
  assert.ok(line, "ping log line");
  assert.equal(typeof line.pingMs, "number");
});

test("an XMPP client gets disco#info from the component: gateway/matrix identity and real features", async () => {
  const result = await xmppUser.iq(xml("iq", { type: "get", to: stack.componentDomain, id: "disco1" }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })));
  const query = result.getChild("query", "http://jabber.org/protocol/disco#info");
  assert.ok(query);
  const identity = query.getChild("identity");
  assert.equal(identity?.attrs.category, "gateway");
  assert.equal(identity?.attrs.type, "matrix");
  const features = query.getChildren("feature").map((f) => f.attrs.var);
  for (const ns of ["http://jabber.org/protocol/disco#info", "urn:xmpp:ping", "jabber:iq:version"]) assert.ok(features.includes(ns), ns);
});

test("an XMPP client pings the component (XEP-0199) and reads its version (XEP-0092)", async () => {
  const pong = await xmppUser.iq(xml("iq", { type: "get", to: stack.componentDomain, id: "ping1" }, xml("ping", { xmlns: "urn:xmpp:ping" })));
  assert.equal(pong.attrs.type, "result");
  const version = await xmppUser.iq(xml("iq", { type: "get", to: stack.componentDomain, id: "ver1" }, xml("query", { xmlns: "jabber:iq:version" })));
  const q = version.getChild("query", "jabber:iq:version");
  assert.equal(q?.getChildText("name"), "matrix-xmpp-bridge");
  assert.match(q?.getChildText("version") ?? "", /^\d+\.\d+\.\d+/);
});

test("an unknown request to the component is answered with an error, not silence", async () => {
  await assert.rejects(
    xmppUser.iq(xml("iq", { type: "get", to: stack.componentDomain, id: "unk1" }, xml("query", { xmlns: "urn:example:unknown" }))),
    (err: Error & { condition?: string }) => err.condition === "service-unavailable",
  );
});

test("/metrics serves Prometheus text: the bridge's version, each connection's state, rooms by kind, process metrics", async () => {
  const res = await fetch(`${metricsUrl()}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.match(text, /^bridge_info\{version="\d+\.\d+\.\d+"\} 1$/m);
  for (const peer of ["xmpp", "homeserver", "redis"]) {
    assert.match(text, new RegExp(`^bridge_connection_up\\{peer="${peer}"\\} 1$`, "m"));
    assert.match(text, new RegExp(`^bridge_check_seconds\\{peer="${peer}"\\} [\\d.e-]+$`, "m"));
  }
  assert.match(text, /^bridge_rooms\{kind="portal"\} \d+$/m);
  assert.match(text, /^bridge_outbox_entries\{direction="matrix_to_xmpp"\} \d+$/m);
  assert.match(text, /process_cpu_user_seconds_total/);
});

test("/health is 200, 503 naming redis while Redis is stopped, and 200 again once it is back", async () => {
  const health = async () => {
    const res = await fetch(`${metricsUrl()}/health`);
    return { status: res.status, body: (await res.json()) as { down: string[] } };
  };
  assert.equal((await health()).status, 200);
  await stackCommand("stop-service", "redis");
  try {
    const down = await eventually(async () => {
      const h = await health();
      return h.status === 503 ? h : undefined;
    }, "health 503");
    assert.deepEqual(down.body.down, ["redis"]);
  } finally {
    await stackCommand("start-service", "redis");
  }
  await eventually(async () => ((await health()).status === 200 ? true : undefined), "health 200 again", 30_000);
});

test("a wrong component secret gives one clear error and exit code 1, not endless retries", async () => {
  const wrong = await runBridge({ config: { xmpp: { password: "not-the-secret" }, appservice: { port: await freePort() }, metrics: { enabled: false } } });
  assert.equal(await wrong.exitCode(), 1);
  const fatal = wrong.records.find((r) => r.level === "fatal");
  assert.match((fatal?.err as { message: string }).message, /refused the component secret/);
});

test("an unreachable homeserver gives one clear error and exit code 1", async () => {
  const wrong = await runBridge({ config: { homeserver: { url: "http://127.0.0.1:1" }, appservice: { port: await freePort() }, metrics: { enabled: false } } });
  assert.equal(await wrong.exitCode(), 1);
  assert.match((wrong.records.find((r) => r.level === "fatal")?.err as { message: string }).message, /cannot reach the homeserver at http:\/\/127\.0\.0\.1:1/);
});

test("a bad config exits with code 2 and names the key and the problem", async () => {
  const bad = await runBridge({ config: { redis: { url: "http://not-redis" }, appservice: { port: "ninety" } } });
  assert.equal(await bad.exitCode(), 2);
  assert.match(bad.stderr, /redis\.url: must be a redis:\/\/ or rediss:\/\/ URL/);
  assert.match(bad.stderr, /appservice\.port: /);
});

test("SIGTERM stops the bridge cleanly with exit code 0", async () => {
  assert.equal(await bridge.stop(), 0);
  assert.ok(bridge.records.some((r) => r.msg === "stopped"));
});
