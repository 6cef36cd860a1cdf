import { describe, it, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify as stringifyYaml } from "yaml";
import { ConfigError, parseConfig, type Environment } from "../../src/config/load.js";

const ROOT = new URL("../../../", import.meta.url).pathname;

test("config.sample.yaml is a valid config: what admins copy must start", () => {
  const config = parseConfig(readFileSync(`${ROOT}config.sample.yaml`, "utf8"), "config.sample.yaml");
  assert.equal(config.media.matrixToXmpp, "link");
  assert.equal(config.presence.enabled, true);
});

test("docker/bridge/config.yaml, the compose file's, is a valid config with the secret from the environment", () => {
  const config = parseConfig(readFileSync(`${ROOT}docker/bridge/config.yaml`, "utf8"), "docker/bridge/config.yaml", { XMPP_PASSWORD: "from-env" });
  assert.equal(config.xmpp.password, "from-env");
  assert.equal(config.appservice.bindAddress, "0.0.0.0");
});

test("config.sample.yaml lets in only its own homeserver's users, names an admin, and invents no public media URL", () => {
  const config = parseConfig(readFileSync(`${ROOT}config.sample.yaml`, "utf8"), "config.sample.yaml", {});
  assert.equal(config.bridge.permissions["*"], undefined);
  assert.equal(config.bridge.permissions[config.homeserver.domain], "user");
  assert.ok(Object.entries(config.bridge.permissions).some(([who, level]) => who.startsWith("@") && level === "admin"));
  assert.equal(config.media.publicUrl, undefined);
});

const MINIMAL = {
  homeserver: { url: "http://127.0.0.1:8008", domain: "matrix.test" },
  xmpp: { service: "xmpp://127.0.0.1:5347", domain: "matrix.xmpp.test", password: "secret" },
  redis: { url: "redis://127.0.0.1:6379/0" },
};

test("without bridge.permissions only the homeserver's own users may use the bridge, not everyone it federates with", () => {
  const config = parseConfig(stringifyYaml(MINIMAL), "config.yaml", {});
  assert.deepEqual(config.bridge.permissions, { "matrix.test": "user" });
});

/** The problems parseConfig finds in the minimal config with `change` applied to it. */
function problemsOf(change: (config: Record<string, any>) => void, env: Environment = {}): readonly string[] {
  const config = structuredClone(MINIMAL) as Record<string, any>;
  change(config);
  try {
    parseConfig(stringifyYaml(config), "config.yaml", env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  return [];
}

describe("config errors name the key, what was given and what was expected", () => {
  it("a number given as a string", () => {
    assert.deepEqual(problemsOf((c) => (c.appservice = { port: "9000" })), ['appservice.port: expected a number, got the string "9000"']);
  });
  it("a URL given as a number", () => {
    assert.deepEqual(problemsOf((c) => (c.homeserver.url = 8008)), ["homeserver.url: expected a string (a URL), got the number 8008"]);
  });
  it("a boolean given as a string", () => {
    assert.deepEqual(problemsOf((c) => (c.presence = { enabled: "no" })), ['presence.enabled: expected a boolean, got the string "no"']);
  });
  it("a missing key is required", () => {
    assert.deepEqual(problemsOf((c) => delete c.redis.url), ["redis.url: is required"]);
  });
  it("an empty value, a list or a mapping where a scalar belongs", () => {
    assert.deepEqual(problemsOf((c) => (c.homeserver.domain = null)), ["homeserver.domain: expected a string, got an empty value"]);
    assert.deepEqual(problemsOf((c) => (c.metrics = { port: [9001] })), ["metrics.port: expected a number, got a list"]);
    assert.deepEqual(problemsOf((c) => (c.media = { allowedHosts: "127.0.0.1" })), ['media.allowedHosts: expected a list, got the string "127.0.0.1"']);
  });
  it("a whole number, and numbers out of range", () => {
    assert.deepEqual(problemsOf((c) => (c.media = { maxBytes: 1.5 })), ["media.maxBytes: expected a whole number, got the number 1.5"]);
    assert.deepEqual(problemsOf((c) => (c.appservice = { port: 70000 })), ["appservice.port: must be at most 65535, got the number 70000"]);
    assert.deepEqual(problemsOf((c) => (c.media = { linkDays: 0 })), ["media.linkDays: must be more than 0, got the number 0"]);
  });
  it("a value not among the options lists them", () => {
    assert.deepEqual(problemsOf((c) => (c.logging = { level: "verbose" })), [
      'logging.level: expected one of "trace", "debug", "info", "warn", "error", "fatal", got the string "verbose"',
    ]);
    assert.deepEqual(problemsOf((c) => (c.bridge = { permissions: { "*": "all" } })), ['bridge.permissions.*: expected one of "none", "user", "admin", got the string "all"']);
  });
  it("a string of the wrong form, an empty string and an unknown key", () => {
    assert.deepEqual(problemsOf((c) => (c.redis.url = "http://not-redis")), ["redis.url: must be a redis:// or rediss:// URL"]);
    assert.deepEqual(problemsOf((c) => (c.xmpp.domain = "")), ["xmpp.domain: must not be empty"]);
    assert.deepEqual(problemsOf((c) => (c.xmpp.pasword = "x")), ["xmpp.pasword: unknown key (misspelt?)"]);
  });
  it("never repeats a secret's value", () => {
    assert.deepEqual(problemsOf((c) => (c.xmpp.password = 123456)), ["xmpp.password: expected a string, got a number"]);
  });
  it("Sentinels go with the name they watch the primary under, each as host:port", () => {
    assert.deepEqual(problemsOf((c) => (c.redis.sentinels = ["10.0.0.1:26379"])), ["redis.masterName: sentinels and masterName go together: give both or neither"]);
    assert.deepEqual(problemsOf((c) => Object.assign(c.redis, { sentinels: ["10.0.0.1"], masterName: "mxb" })), ["redis.sentinels.0: must be host:port"]);
    assert.deepEqual(problemsOf((c) => Object.assign(c.redis, { sentinels: ["[::1]:26379", "sentinel.example:26379"], masterName: "mxb" })), []);
    assert.deepEqual(problemsOf((c) => (c.redis.keyPrefix = "{mxb}:")), ["redis.keyPrefix: must not hold { or }: the bridge's own hash tags decide which keys share a Redis Cluster slot"]);
  });
  it("lists every problem at once", () => {
    assert.equal(problemsOf((c) => ((c.homeserver.url = 1), (c.appservice = { port: "x" }))).length, 2);
  });
});

describe("the component secret from the config, a file or the environment", () => {
  const dir = mkdtempSync(join(tmpdir(), "mxb-config-test-"));
  const load = (xmpp: Record<string, unknown>, env: Environment = {}) => parseConfig(stringifyYaml({ ...MINIMAL, xmpp: { ...MINIMAL.xmpp, password: undefined, ...xmpp } }), join(dir, "config.yaml"), env);
  writeFileSync(join(dir, "secret"), "from-the-file\n");
  writeFileSync(join(dir, "empty"), "");

  it("takes xmpp.password as it is", () => {
    assert.equal(load({ password: "inline" }).xmpp.password, "inline");
  });
  it("reads xmpp.passwordFile relative to the config file, without its final line break", () => {
    assert.equal(load({ passwordFile: "secret" }).xmpp.password, "from-the-file");
    assert.equal(load({ passwordFile: join(dir, "secret") }).xmpp.password, "from-the-file");
  });
  it("lets XMPP_PASSWORD win over both", () => {
    assert.equal(load({ password: "inline" }, { XMPP_PASSWORD: "from-env" }).xmpp.password, "from-env");
    assert.equal(load({}, { XMPP_PASSWORD: "from-env" }).xmpp.password, "from-env");
  });
  it("names what is missing, unreadable, empty or set twice", () => {
    assert.throws(() => load({}), /xmpp\.password: is required \(or xmpp\.passwordFile, a file holding it, or the XMPP_PASSWORD environment variable\)/);
    assert.throws(() => load({ passwordFile: "nowhere" }), /xmpp\.passwordFile: cannot read .*nowhere: ENOENT/);
    assert.throws(() => load({ passwordFile: "empty" }), /xmpp\.passwordFile: .*empty is empty/);
    assert.throws(() => load({ password: "a", passwordFile: "secret" }), /set one of them, not both/);
  });
});

describe("the provisioning secret", () => {
  const dir = mkdtempSync(join(tmpdir(), "mxb-config-test-"));
  const load = (provisioning: Record<string, unknown>, env: Environment = {}) => parseConfig(stringifyYaml({ ...MINIMAL, provisioning }), join(dir, "config.yaml"), env);
  writeFileSync(join(dir, "token"), "a-secret-from-the-file\n");

  it("is not needed while the API is off, and not kept", () => {
    assert.equal(load({}).provisioning.enabled, false);
    assert.equal(load({ secret: "a-secret-of-enough-length" }).provisioning.secret, undefined);
  });
  it("comes from the config, a file or PROVISIONING_SECRET, which wins", () => {
    assert.equal(load({ enabled: true, secret: "a-secret-of-enough-length" }).provisioning.secret, "a-secret-of-enough-length");
    assert.equal(load({ enabled: true, secretFile: "token" }).provisioning.secret, "a-secret-from-the-file");
    assert.equal(load({ enabled: true, secretFile: "token" }, { PROVISIONING_SECRET: "a-secret-from-the-environment" }).provisioning.secret, "a-secret-from-the-environment");
  });
  it("is required when enabled, and long enough", () => {
    assert.throws(() => load({ enabled: true }), /provisioning\.secret: is required when provisioning\.enabled is true \(or provisioning\.secretFile, a file holding it, or the PROVISIONING_SECRET environment variable\)/);
    assert.throws(() => load({ enabled: true, secret: "short" }), /provisioning\.secret: must be at least 16 characters long/);
  });
});
