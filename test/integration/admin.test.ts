/** What an admin relies on: the probes (/live, /ready). */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { baseConfig, eventually, killAllBridges, startBridge, stackCommand } from "./harness.js";

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
