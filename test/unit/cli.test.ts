/** The command line run as the real process (the parts that need no servers). */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";

const CLI = new URL("../../src/cli.js", import.meta.url).pathname;

function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, XMPP_PASSWORD: "", AS_TOKEN: "", HS_TOKEN: "" } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout, stderr });
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), "mxb-cli-test-"));
const configFile = join(dir, "config.yaml");
writeFileSync(
  configFile,
  `homeserver: { url: "http://127.0.0.1:1", domain: "matrix.test" }
xmpp: { service: "xmpp://127.0.0.1:1", domain: "matrix.xmpp.test", password: "secret" }
redis: { url: "redis://127.0.0.1:1/0" }
`,
);

describe("writing the registration (-r)", () => {
  const file = join(dir, "registration.yaml");
  it("writes it once, and refuses to replace it without --force", async () => {
    const first = await run("-r", "-u", "http://127.0.0.1:9000", "-c", configFile, "-f", file);
    assert.equal(first.code, 0, first.stderr);
    const before = readFileSync(file, "utf8");
    const again = await run("-r", "-u", "http://127.0.0.1:9000", "-c", configFile, "-f", file);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /exists already; not replacing it/);
    assert.match(again.stderr, /--force/);
    assert.equal(readFileSync(file, "utf8"), before);
    const forced = await run("-r", "--force", "-u", "http://127.0.0.1:9000", "-c", configFile, "-f", file);
    assert.equal(forced.code, 0, forced.stderr);
    assert.notEqual(readFileSync(file, "utf8"), before);
  });
  it("needs an http(s) URL", async () => {
    const other = join(dir, "never.yaml");
    for (const url of ["127.0.0.1:9000", "ftp://bridge.example", "not a url"]) {
      const result = await run("-r", "-u", url, "-c", configFile, "-f", other);
      assert.equal(result.code, 2, url);
      assert.match(result.stderr, /-u must be an http:\/\/ or https:\/\/ URL/);
    }
    assert.equal(existsSync(other), false);
  });
});

describe("starting with a registration that does not fit the config", () => {
  it("refuses a user namespace that does not claim the ghosts, before reaching any server", async () => {
    const file = join(dir, "foreign.yaml");
    assert.equal((await run("-r", "-u", "http://127.0.0.1:9000", "-c", configFile, "-f", file)).code, 0);
    const registration = parseYaml(readFileSync(file, "utf8")) as { namespaces: { users: { regex: string }[] } };
    registration.namespaces.users[0]!.regex = "@_irc_.*:matrix\\.test";
    writeFileSync(file, stringifyYaml(registration));
    const result = await run("-c", configFile, "-f", file);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /foreign\.yaml does not fit .*config\.yaml:\n {2}namespaces\.users .* does not claim @_xmpp_someone=40example\.org:matrix\.test/);
  });
});
