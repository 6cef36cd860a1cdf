/** What an admin relies on: the probes (/live, /ready) and SIGHUP reloading the config. */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { MatrixTestClient } from "./matrix-client.js";
import { baseConfig, eventually, killAllBridges, startBridge, stackCommand, uniqueName } from "./harness.js";
import { noticeAfter, roomWithBot } from "./scenes.js";

after(() => killAllBridges());

const listener = (section: "appservice" | "metrics"): string => {
  const { bindAddress, port } = baseConfig()[section] as { bindAddress: string; port: number };
  return `http://${bindAddress}:${port}`;
};

async function probe(base: string, path: "/live" | "/ready"): Promise<{ status: number; body: { status: string; down?: string[] } }> {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, body: (await res.json()) as { status: string; down?: string[] } };
}

test("with metrics off, /live and /ready are served on the appservice listener; /ready is 503 naming Redis while it is stopped", async () => {
  const bridge = await startBridge({ metrics: { enabled: false } });
  try {
    const appservice = listener("appservice");
    assert.deepEqual(await probe(appservice, "/live"), { status: 200, body: { status: "live" } });
    const ready = await probe(appservice, "/ready");
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body.down, []);
    await assert.rejects(fetch(`${listener("metrics")}/ready`), "no metrics listener");

    await stackCommand("stop-service", "redis");
    try {
      const down = await eventually(async () => {
        const r = await probe(appservice, "/ready");
        return r.status === 503 ? r : undefined;
      }, "/ready 503");
      assert.deepEqual(down.body, { status: "not ready", down: ["redis"], checks: { redis: "down", xmpp: "up", homeserver: "up" } });
      assert.equal((await probe(appservice, "/live")).status, 200);
    } finally {
      await stackCommand("start-service", "redis");
    }
    await eventually(async () => ((await probe(appservice, "/ready")).status === 200 ? true : undefined), "/ready 200 again", 30_000);
  } finally {
    assert.equal(await bridge.stop(), 0);
  }
});

test("SIGHUP applies new permissions without a restart, names what needs one, and keeps the running config when the new one is broken", async () => {
  const user = await MatrixTestClient.register(uniqueName("reloader"));
  const bridge = await startBridge({ bridge: { permissions: { "*": "user" } }, logging: { level: "info" } });
  try {
    // With metrics on, the probes are on the metrics listener too.
    assert.equal((await probe(listener("metrics"), "/ready")).status, 200);
    const roomId = await roomWithBot(user);
    await user.sendText(roomId, "list");
    await noticeAfter(user, roomId, /not allowed to use "list"/, "list refused to a user");

    const config = parseYaml(await readFile(bridge.configFile, "utf8")) as Record<string, any>;
    config.bridge.permissions = { "*": "user", [user.userId]: "admin" };
    config.logging.level = "debug";
    config.media.linkDays = 7;
    await writeFile(bridge.configFile, stringifyYaml(config));
    assert.equal(bridge.records.some((r) => r.level === "debug"), false);
    bridge.proc.kill("SIGHUP");
    const reloaded = await bridge.waitForLog((r) => r.msg.startsWith("SIGHUP: reloaded"));
    assert.deepEqual(reloaded.reloaded, ["logging.level", "bridge.permissions"]);
    const restart = await bridge.waitForLog((r) => r.msg.startsWith("SIGHUP: changed but applied only after a restart"));
    assert.deepEqual(restart.needRestart, ["media.linkDays"]);
    await user.sendText(roomId, "list");
    await noticeAfter(user, roomId, /linked room|No linked rooms/, "list for the new admin");
    // The new level reaches the modules' loggers too (the bot's own notice is "not bridged", at debug level).
    await bridge.waitForLog((r) => r.level === "debug" && typeof r.module === "string");

    await writeFile(bridge.configFile, stringifyYaml({ ...config, bridge: { permissions: { "*": "none" } }, appservice: { port: "nine thousand" } }));
    bridge.proc.kill("SIGHUP");
    const refused = await bridge.waitForLog((r) => r.msg.startsWith("SIGHUP: the config file cannot be used"));
    assert.match((refused.err as { message: string }).message, /appservice\.port: expected a number, got the string "nine thousand"/);
    // A new room, so that the answer cannot be the one before.
    const otherRoomId = await roomWithBot(user);
    await user.sendText(otherRoomId, "list");
    await noticeAfter(user, otherRoomId, /linked room|No linked rooms/, "list still allowed: the running config stayed");
    assert.equal(bridge.proc.exitCode, null);
  } finally {
    assert.equal(await bridge.stop(), 0);
  }
});
