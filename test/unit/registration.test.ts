import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.js";
import { buildRegistration, checkRegistration, readRegistration, writeRegistration, type Registration } from "../../src/matrix/registration.js";

const config = parseConfig(
  `homeserver: { url: "http://127.0.0.1:8008", domain: "matrix.test" }
xmpp: { service: "xmpp://127.0.0.1:5347", domain: "matrix.xmpp.test", password: "secret" }
redis: { url: "redis://127.0.0.1:6379/0" }`,
  "config.yaml",
  {},
);
const fresh = (): Registration => buildRegistration(config, "http://127.0.0.1:9000", {});
const messages = (r: Registration) => checkRegistration(r, config).map((m) => `${m.severity}: ${m.message}`);

describe("the registration checked against the config", () => {
  it("finds nothing in a registration the bridge wrote from the same config", () => {
    assert.deepEqual(messages(fresh()), []);
  });
  it("refuses a user namespace that does not claim the configured ghosts", () => {
    const r = fresh();
    r.namespaces.users = [{ exclusive: true, regex: "@_irc_.*:matrix\\.test" }];
    assert.deepEqual(messages(r), [
      'error: namespaces.users (@_irc_.*:matrix\\.test) does not claim @_xmpp_someone=40example.org:matrix.test, which bridge.userPrefix "_xmpp_" makes: the homeserver would not let the bridge act as XMPP users',
    ]);
  });
  it("warns of an alias namespace that does not claim the portals, or of another homeserver domain", () => {
    const r = fresh();
    r.namespaces.aliases = [{ exclusive: true, regex: "#_xmpp_.*:other\\.test" }];
    assert.match(messages(r).join("\n"), /^warning: namespaces\.aliases \(#_xmpp_\.\*:other\\\.test\) does not claim #_xmpp_room=40conference\.example\.org:matrix\.test, which bridge\.aliasPrefix "_xmpp_" makes: portals cannot be opened by alias$/);
  });
  it("warns of a user namespace that claims every user of the homeserver", () => {
    const r = fresh();
    r.namespaces.users = [{ exclusive: true, regex: "@.*:matrix\\.test" }];
    assert.deepEqual(messages(r), ["warning: namespaces.users claims ordinary users of matrix.test too (@alice:matrix.test): the homeserver reserves them for the bridge"]);
  });
  it("warns of a registration that does not list the xmpp protocol", () => {
    const r = fresh();
    assert.deepEqual(r.protocols, ["xmpp"]);
    delete r.protocols;
    assert.deepEqual(messages(r), ['warning: protocols does not list "xmpp": the homeserver will not ask the bridge for third-party lookups (MUCs in the room directory, XMPP users by JID)']);
  });
  it("warns of a regex it cannot read", () => {
    const r = fresh();
    r.namespaces.aliases = [{ exclusive: true, regex: "#(" }];
    assert.match(messages(r).join("\n"), /warning: a regex of namespaces\.aliases cannot be read/);
  });
  it("warns of another bot localpart, another port, or no url", () => {
    const r = fresh();
    r.sender_localpart = "otherbot";
    r.url = "http://127.0.0.1:9100";
    assert.deepEqual(messages(r), [
      'warning: sender_localpart is "otherbot" but bridge.botLocalpart is "xmppbot": the bot is @otherbot:matrix.test',
      "warning: url http://127.0.0.1:9100 points at port 9100 but the bridge listens on appservice.port 9000; fine behind a proxy, else the homeserver cannot reach the bridge",
    ]);
    r.url = null;
    assert.match(messages(r).at(-1)!, /url is null/);
    r.url = "https://bridge.example.org";
    assert.match(messages(r).at(-1)!, /points at port 443/);
  });
});

describe("the registration file", () => {
  const dir = mkdtempSync(join(tmpdir(), "mxb-registration-test-"));
  it("is not replaced without force, and the refusal says why", async () => {
    const file = join(dir, "registration.yaml");
    await writeRegistration(file, fresh());
    const before = readFileSync(file, "utf8");
    await assert.rejects(writeRegistration(file, fresh()), /exists already; not replacing it.*signed links to Matrix files already sent to XMPP users stop working.*--force/s);
    assert.equal(readFileSync(file, "utf8"), before);
    await writeRegistration(file, fresh(), true);
    assert.notEqual(readFileSync(file, "utf8"), before);
  });
  it("takes its tokens from AS_TOKEN and HS_TOKEN where they are set, when written and when read", async () => {
    const file = join(dir, "tokens.yaml");
    const written = buildRegistration(config, "http://127.0.0.1:9000", { AS_TOKEN: "as-env" });
    assert.equal(written.as_token, "as-env");
    assert.notEqual(written.hs_token, "");
    writeFileSync(file, readFileSync(join(dir, "registration.yaml")));
    const plain = await readRegistration(file, {});
    const read = await readRegistration(file, { HS_TOKEN: "hs-env" });
    assert.equal(read.hs_token, "hs-env");
    assert.equal(read.as_token, plain.as_token);
  });
});
