/**
 * Redis behind Sentinel: the bridge finds the primary through the Sentinel, and when the primary dies
 * and the Sentinel promotes its replica, the bridge goes on with the new primary, losing nothing.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { conversationScene } from "./scenes.js";
import { bridgeSuite, eventually, stack, stackCommand } from "./harness.js";

const redisCli = async (port: number, ...args: string[]): Promise<string> => (await promisify(execFile)("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args])).stdout.trim();
const primaryPort = async (): Promise<number> => Number((await redisCli(stack.sentinel.port, "sentinel", "get-master-addr-by-name", stack.sentinel.masterName)).split("\n")[1]);

before(() => stackCommand("start-service", "sentinel"));
const suite = bridgeSuite({
  // The URL's host is not asked: the Sentinel names the primary.
  redis: { url: "redis://sentinel-named-primary/0", sentinels: [`127.0.0.1:${stack.sentinel.port}`], masterName: stack.sentinel.masterName },
});
after(() => stackCommand("stop-service", "sentinel"));

test("the primary dies mid-conversation: the Sentinel promotes the replica, and every message arrives once, in order, both ways", async () => {
  assert.equal(await primaryPort(), stack.sentinel.primaryPort);
  const talk = await conversationScene(suite, "sentinel", 20);
  await talk.underWay(3);
  await talk.holdMatrix();
  // SHUTDOWN: the primary's acknowledged writes reach the replica before it goes (replication is
  // asynchronous, so a primary killed outright may take its last writes with it: docs/reliability.md).
  await redisCli(stack.sentinel.primaryPort, "shutdown").catch(() => undefined);
  await eventually(async () => ((await primaryPort()) === stack.sentinel.replicaPort ? true : undefined), "the Sentinel to promote the replica", 60_000);
  await talk.speakAgain();
  await talk.finished();
  assert.deepEqual(await talk.toMatrix(), talk.said("x"));
  assert.deepEqual(talk.toXmpp(), talk.said("m"));
  assert.ok(suite.bridge.records.some((r) => r.msg === "reconnected to Redis"), "the bridge reconnected, to the new primary");
});
