import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { helpText, parseCommand } from "../../src/core/commands.js";
import { hasPermission, permissionOf } from "../../src/core/permissions.js";

describe("bot commands", () => {
  it("parses every command, with or without a leading !", () => {
    assert.deepEqual(parseCommand("help"), { command: { name: "help" } });
    assert.deepEqual(parseCommand("!list"), { command: { name: "list", page: 1 } });
    assert.deepEqual(parseCommand("list 3"), { command: { name: "list", page: 3 } });
    assert.deepEqual(parseCommand("  unlink "), { command: { name: "unlink" } });
    assert.deepEqual(parseCommand("unlink !abc:matrix.test"), { command: { name: "unlink", roomId: "!abc:matrix.test" } });
    assert.deepEqual(parseCommand("status"), { command: { name: "status" } });
    assert.deepEqual(parseCommand("join Lobby@conference.xmpp.test"), { command: { name: "join", muc: "lobby@conference.xmpp.test" } });
    assert.deepEqual(parseCommand("link xmpp:room@muc.example?join"), { command: { name: "link", muc: "room@muc.example" } });
  });
  it("answers a bad argument with the usage", () => {
    assert.deepEqual(parseCommand("join"), { error: "usage: join <room@muc.service>" });
    assert.deepEqual(parseCommand("link not a jid"), { error: "usage: link <room@muc.service>" });
    assert.deepEqual(parseCommand("join room@muc/with-resource"), { error: "usage: join <room@muc.service>" });
    assert.deepEqual(parseCommand("list zero"), { error: "usage: list [page]" });
    assert.deepEqual(parseCommand("unlink #alias:matrix.test"), { error: "usage: unlink [!room:server]" });
  });
  it("leaves ordinary chat alone", () => {
    assert.equal(parseCommand("hello there"), undefined);
    assert.equal(parseCommand(""), undefined);
  });
  it("shows admin commands to admins only", () => {
    assert.doesNotMatch(helpText("user"), /^(list|status)/m);
    assert.match(helpText("admin"), /^list/m);
    assert.match(helpText("admin"), /^status/m);
  });
});

describe("permissions", () => {
  const table = { "*": "user", "evil.example": "none", "@boss:matrix.test": "admin", "@ok:evil.example": "user" } as const;
  it("takes the most specific entry", () => {
    assert.equal(permissionOf("@someone:matrix.test", table), "user");
    assert.equal(permissionOf("@x:evil.example", table), "none");
    assert.equal(permissionOf("@ok:evil.example", table), "user");
    assert.equal(permissionOf("@boss:matrix.test", table), "admin");
  });
  it("ranks none < user < admin, and an empty table allows nobody", () => {
    assert.ok(hasPermission("@boss:matrix.test", "user", table));
    assert.ok(!hasPermission("@someone:matrix.test", "admin", table));
    assert.equal(permissionOf("@a:b", {}), "none");
  });
});
