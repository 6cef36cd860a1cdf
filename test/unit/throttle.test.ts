import { test } from "node:test";
import assert from "node:assert/strict";
import { LatestWinsThrottle } from "../../src/pipeline/throttle.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test("a burst per key becomes its first and its last value; keys do not hold each other up", async () => {
  const sent: string[] = [];
  const throttle = new LatestWinsThrottle<string>(200, async (key, value) => void sent.push(`${key}=${value}`), () => assert.fail("no errors expected"));
  throttle.offer("a", "1");
  throttle.offer("a", "2");
  throttle.offer("a", "3");
  throttle.offer("b", "1");
  assert.deepEqual(sent, ["a=1", "b=1"]);
  await sleep(450);
  assert.deepEqual(sent, ["a=1", "b=1", "a=3"]);
  throttle.stop();
});

test("a failed send is reported, not thrown", async () => {
  const errors: string[] = [];
  const throttle = new LatestWinsThrottle<string>(10, async () => Promise.reject(new Error("down")), (key, err) => errors.push(`${key}:${(err as Error).message}`));
  throttle.offer("a", "1");
  await sleep(5);
  assert.deepEqual(errors, ["a:down"]);
  throttle.stop();
});
