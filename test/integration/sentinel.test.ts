/**
 * Redis behind Sentinel: the bridge finds the primary through the Sentinel, and when the primary dies
 * and the Sentinel promotes its replica, the bridge goes on with the new primary, losing nothing.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { xml } from "@xmpp/client";
import { bodyOf, portalScene } from "./scenes.js";
import { bridgeSuite, eventually, sleep, stack, stackCommand } from "./harness.js";

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
  const { room, xmppUser, matrixUser, roomId } = await portalScene(suite, "sentinel");
  const count = 20;
  const toMatrix = async () => (await matrixUser.history(roomId)).map((e) => e.content.body as string).filter((b) => /^s\d+$/.test(b));
  const toXmpp = () => xmppUser.stanzas.filter((s) => s.is("message") && s.attrs.from === `${room}/Max` && /^t\d+$/.test(bodyOf(s) ?? "")).map((s) => bodyOf(s)!);
  // One after the other on each side: concurrent Matrix sends fork the room's graph, where order is not defined.
  const conversation = (async () => {
    for (let i = 0; i < count; i++) {
      await xmppUser.send(xml("message", { to: room, type: "groupchat", id: `s${i}` }, xml("body", {}, `s${i}`)));
      await matrixUser.sendText(roomId, `t${i}`);
      await sleep(200);
    }
  })();
  await eventually(async () => (toXmpp().length >= 3 && (await toMatrix()).length >= 3 ? true : undefined), "the conversation to be under way both ways", 60_000);
  // SHUTDOWN: the primary's acknowledged writes reach the replica before it goes (replication is
  // asynchronous, so a primary killed outright may take its last writes with it: docs/reliability.md).
  await redisCli(stack.sentinel.primaryPort, "shutdown").catch(() => undefined);
  await eventually(async () => ((await primaryPort()) === stack.sentinel.replicaPort ? true : undefined), "the Sentinel to promote the replica", 60_000);
  await conversation;

  await eventually(async () => ((await toMatrix()).includes(`s${count - 1}`) ? true : undefined), "every XMPP message on Matrix", 120_000);
  await eventually(() => (toXmpp().includes(`t${count - 1}`) ? true : undefined), "every Matrix message on XMPP", 120_000);
  await sleep(1500);
  const all = (prefix: string) => Array.from({ length: count }, (_, i) => `${prefix}${i}`);
  assert.deepEqual(await toMatrix(), all("s"));
  assert.deepEqual(toXmpp(), all("t"));
  assert.ok(suite.bridge.records.some((r) => r.msg === "reconnected to Redis"), "the bridge reconnected, to the new primary");
});
