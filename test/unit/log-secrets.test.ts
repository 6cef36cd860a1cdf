import { test } from "node:test";
import assert from "node:assert/strict";
import { fileUrlKey } from "../../src/core/file-urls.js";
import { secretsIn, secretsOf } from "../checks/log-secrets.js";

test("the check of the logs finds each secret, in each form it could be printed in", () => {
  const secrets = secretsOf({ as_token: "AS-abc", hs_token: "HS-def" }, { xmpp: { password: "component-ghi" } });
  const key = fileUrlKey("AS-abc");
  assert.deepEqual(secretsIn('{"msg":"ok","lane":"matrix:!r"}', secrets), []);
  assert.deepEqual(secretsIn(`{"authorization":"Bearer AS-abc"}`, secrets), ["as_token"]);
  assert.deepEqual(secretsIn(`token=HS-def secret=component-ghi`, secrets), ["hs_token", "component secret"]);
  assert.deepEqual(secretsIn(key.toString("base64url"), secrets), ["file URL key (base64url)"]);
  assert.deepEqual(secretsIn(key.toString("hex"), secrets), ["file URL key (hex)"]);
});
