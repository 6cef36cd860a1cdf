import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.js";
import { configChanges } from "../../src/config/reload.js";
import { createLogger, setLogLevel } from "../../src/log.js";

const config = (extra = "") =>
  parseConfig(
    `homeserver: { url: "http://127.0.0.1:8008", domain: "matrix.test" }
xmpp: { service: "xmpp://127.0.0.1:5347", domain: "matrix.xmpp.test", password: "secret" }
redis: { url: "redis://127.0.0.1:6379/0" }
${extra}`,
    "config.yaml",
    {},
  );

describe("a config read again on SIGHUP", () => {
  it("changes nothing when the file did not change", () => {
    const { reloaded, needRestart } = configChanges(config(), config());
    assert.deepEqual([reloaded, needRestart], [[], []]);
  });
  it("applies the permissions and the log level, and names the changes that need a restart", () => {
    const running = config();
    const read = config(`bridge: { permissions: { "matrix.test": user, "@boss:matrix.test": admin }, botDisplayName: Bot }
logging: { level: debug, format: text }
media: { linkDays: 7 }`);
    const { reloaded, needRestart, applied } = configChanges(running, read);
    assert.deepEqual(reloaded, ["logging.level", "bridge.permissions"]);
    assert.deepEqual(needRestart, ["logging.format", "bridge.botDisplayName", "media.linkDays"]);
    assert.deepEqual(applied.bridge.permissions, { "matrix.test": "user", "@boss:matrix.test": "admin" });
    assert.equal(applied.logging.level, "debug");
    assert.equal(applied.logging.format, "json");
    assert.equal(applied.bridge.botDisplayName, "XMPP bridge");
    assert.equal(applied.media.linkDays, 30);
  });
  it("keeps naming a change that needs a restart until there is one", () => {
    const running = configChanges(config(), config("media: { linkDays: 7 }")).applied;
    assert.deepEqual(configChanges(running, config("media: { linkDays: 7 }")).needRestart, ["media.linkDays"]);
  });
});

describe("the log level set while running", () => {
  it("reaches the children and grandchildren already made", () => {
    const log = createLogger({ level: "info", format: "json" });
    const child = log.child({ module: "a" });
    const grandchild = child.child({ part: "b" });
    setLogLevel(log, "debug");
    assert.deepEqual([log.level, child.level, grandchild.level], ["debug", "debug", "debug"]);
    setLogLevel(log, "warn");
    assert.equal(grandchild.isLevelEnabled("info"), false);
  });
});
