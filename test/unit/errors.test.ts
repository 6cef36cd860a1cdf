import { test } from "node:test";
import assert from "node:assert/strict";
import { asError } from "../../src/core/errors.js";

test("asError keeps an Error and wraps anything else with its message or text", () => {
  const err = new TypeError("bad");
  assert.equal(asError(err), err);
  assert.equal(asError("gone").message, "gone");
  assert.equal(asError({ message: "from a plain object" }).message, "from a plain object");
  assert.equal(asError(undefined).message, "undefined");
  assert.equal(asError(42).cause, 42);
});
