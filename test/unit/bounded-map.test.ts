import { test } from "node:test";
import assert from "node:assert/strict";
import { BoundedMap } from "../../src/core/bounded-map.js";

test("a bounded map forgets the entry written least recently", () => {
  const map = new BoundedMap<string, number>(2);
  map.set("a", 1).set("b", 2).set("a", 3).set("c", 4);
  assert.deepEqual([...map.entries()], [["a", 3], ["c", 4]]);
});
