import { test } from "node:test";
import assert from "node:assert/strict";
import { sameSecret } from "../../src/core/secrets.js";

test("a secret is the same only when equal, whatever the lengths", () => {
  assert.ok(sameSecret("s3cret-token", "s3cret-token"));
  assert.ok(!sameSecret("s3cret-tokem", "s3cret-token"));
  assert.ok(!sameSecret("s3cret", "s3cret-token"), "a prefix is not the secret");
  assert.ok(!sameSecret("", "s3cret-token"));
  assert.ok(!sameSecret("s3cret-token\u0000", "s3cret-token"));
});
