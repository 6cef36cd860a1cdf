import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseConfig } from "../../src/config/load.js";

const ROOT = new URL("../../../", import.meta.url).pathname;

test("config.sample.yaml is a valid config: what admins copy must start", () => {
  const config = parseConfig(readFileSync(`${ROOT}config.sample.yaml`, "utf8"), "config.sample.yaml");
  assert.equal(config.media.matrixToXmpp, "link");
  assert.equal(config.presence.enabled, true);
});
