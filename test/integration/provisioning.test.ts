import { test } from "node:test";
import assert from "node:assert/strict";
import { xml } from "@xmpp/client";
import { MatrixTestClient } from "./matrix-client.js";
import { bridgeSuite, portalAliasOf, stack, uniqueName } from "./harness.js";
import { bodyOf, configureMuc, xmppUserInMuc } from "./scenes.js";

const SECRET = "provisioning-test-secret-0123456789";
const REQUESTS_PER_MINUTE = 40;
const port = Number(process.env.PROVISIONING_PORT);
if (!port) throw new Error("PROVISIONING_PORT is not set: run the integration tests through scripts/test.sh");
const base = `http://127.0.0.1:${port}/_matrix/provision/v1`;

let outsider: MatrixTestClient;
const suite = bridgeSuite(async () => {
  outsider = await MatrixTestClient.register(uniqueName("outsider"));
  return {
    bridge: { permissions: { "*": "user", [outsider.userId]: "none" } },
    provisioning: { enabled: true, port, secret: SECRET, requestsPerMinute: REQUESTS_PER_MINUTE },
  };
});

/** A provisioning API call as an admin tool makes it; resolves with the status and the JSON body. */
async function call(method: "GET" | "POST", path: string, body?: unknown, token: string | null = SECRET): Promise<{ status: number; json: any }> {
  const headers: Record<string, string> = { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { "content-type": "application/json" }) };
  const res = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: res.status, json: await res.json() };
}

test("a missing or wrong token is answered 401 with a JSON error, and nothing is done", async () => {
  const missing = await call("GET", "/status", undefined, null);
  assert.equal(missing.status, 401);
  assert.equal(missing.json.errcode, "M_MISSING_TOKEN");
  const wrong = await call("POST", "/link", { matrix_room_id: "!a:b", muc: "a@b", user_id: "@a:b" }, "not-the-secret");
  assert.equal(wrong.status, 401);
  assert.equal(wrong.json.errcode, "M_UNKNOWN_TOKEN");
  assert.equal(typeof wrong.json.error, "string");
  const unknown = await call("GET", "/nothing-here");
  assert.deepEqual([unknown.status, unknown.json.errcode], [404, "M_UNRECOGNIZED"]);
  const bad = await call("POST", "/link", { matrix_room_id: "not a room", muc: "a@b", user_id: "@a:b" });
  assert.deepEqual([bad.status, bad.json.errcode], [400, "M_INVALID_PARAM"]);
  assert.match(bad.json.error, /^matrix_room_id: /);
});

test("the status is the bot's: each connection, and what waits each way", async () => {
  const { status, json } = await call("GET", "/status");
  assert.equal(status, 200);
  assert.deepEqual(json.parts, { redis: "up", xmpp: "up", homeserver: "up" });
  assert.equal(typeof json.waiting.to_xmpp, "number");
  assert.equal(typeof json.waiting.to_matrix, "number");
});

test("a MUC is looked up before linking: its name and description, the alias that opens it; a missing one is 404", async () => {
  const room = `${uniqueName("lookup")}@${stack.mucDomain}`;
  const host = await xmppUserInMuc(suite, room, "host");
  await configureMuc(host, room, "muc#roomconfig_roomname", "Looked-up room");
  await configureMuc(host, room, "muc#roomconfig_roomdesc", "A room to look up");
  const found = await call("GET", `/lookup?muc=${encodeURIComponent(room)}`);
  assert.equal(found.status, 200);
  assert.deepEqual(found.json, { muc: room, name: "Looked-up room", title: "Looked-up room", description: "A room to look up", alias: portalAliasOf(room), link: null });

  const missing = await call("GET", `/lookup?muc=${encodeURIComponent(`${uniqueName("nobody")}@${stack.mucDomain}`)}`);
  assert.deepEqual([missing.status, missing.json.errcode], [404, "XMPP_UNKNOWN_MUC"]);
});

test("link on behalf of a user with power: messages cross both ways; list shows it; unlink undoes it", async () => {
  const room = `${uniqueName("provisioned")}@${stack.mucDomain}`;
  const resident = await xmppUserInMuc(suite, room, "resident");
  const owner = await MatrixTestClient.register(uniqueName("owner"));
  const guest = await MatrixTestClient.register(uniqueName("guest"));
  // A public room the bot was not invited to: the API has it join.
  const roomId = await owner.createRoom({ preset: "public_chat" });
  await guest.join(roomId);

  const weak = await call("POST", "/link", { matrix_room_id: roomId, muc: room, user_id: guest.userId });
  assert.deepEqual([weak.status, weak.json.errcode], [403, "XMPP_NOT_ENOUGH_POWER"]);
  assert.match(weak.json.error, /has power level 0 in .*; 50 is needed/);
  const banned = await call("POST", "/link", { matrix_room_id: roomId, muc: room, user_id: outsider.userId });
  assert.deepEqual([banned.status, banned.json.errcode], [403, "XMPP_NOT_ALLOWED"]);
  const nowhere = await call("POST", "/link", { matrix_room_id: roomId, muc: `${uniqueName("nobody")}@${stack.mucDomain}`, user_id: owner.userId });
  assert.deepEqual([nowhere.status, nowhere.json.errcode], [404, "XMPP_UNKNOWN_MUC"]);

  const linked = await call("POST", "/link", { matrix_room_id: roomId, muc: room, user_id: owner.userId });
  assert.equal(linked.status, 200, JSON.stringify(linked.json));
  assert.deepEqual({ ...linked.json, name: undefined }, { matrix_room_id: roomId, muc: room, name: undefined });
  const again = await call("POST", "/link", { matrix_room_id: roomId, muc: room, user_id: owner.userId });
  assert.deepEqual([again.status, again.json.errcode], [409, "XMPP_DOUBLE_BRIDGE"]);

  const ownerNick = owner.userId.slice(1).split(":")[0];
  await resident.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/${ownerNick}`, "the owner's puppet in the MUC");
  await resident.send(xml("message", { to: room, type: "groupchat", id: "prov1" }, xml("body", {}, "hello provisioned room")));
  await owner.waitForEvent((e) => e.room_id === roomId && e.content.body === "hello provisioned room", "the XMPP message in the room");
  await owner.sendText(roomId, "hello MUC from a provisioned room");
  await resident.waitFor((s) => s.attrs.from === `${room}/${ownerNick}` && bodyOf(s) === "hello MUC from a provisioned room", "the Matrix message in the MUC");

  const forRoom = await call("GET", `/links?matrix_room_id=${encodeURIComponent(roomId)}`);
  assert.deepEqual(forRoom.json, { links: [{ kind: "plumbed", matrix_room_id: roomId, muc: room }], total: 1 });
  const lookedUp = await call("GET", `/lookup?muc=${encodeURIComponent(room)}`);
  assert.deepEqual(lookedUp.json.link, { kind: "plumbed", matrix_room_id: roomId, muc: room });
  assert.equal(lookedUp.json.alias, undefined);
  // Every link, a page at a time: ours is on one of them, and the pages add up to the total.
  const firstPage = await call("GET", "/links?limit=2");
  assert.ok(firstPage.json.links.length <= 2 && firstPage.json.total >= 1);
  const seen: any[] = [];
  let from: string | undefined = "0";
  for (let pages = 0; from !== undefined && pages < 10; pages++) {
    const page = await call("GET", `/links?limit=50&from=${from}`);
    seen.push(...page.json.links);
    from = page.json.next_batch;
  }
  assert.equal(seen.length, firstPage.json.total);
  assert.ok(seen.some((l) => l.matrix_room_id === roomId && l.muc === room));

  const weakUnlink = await call("POST", "/unlink", { matrix_room_id: roomId, user_id: guest.userId });
  assert.deepEqual([weakUnlink.status, weakUnlink.json.errcode], [403, "XMPP_NOT_ENOUGH_POWER"]);
  const unlinked = await call("POST", "/unlink", { matrix_room_id: roomId, user_id: owner.userId });
  assert.deepEqual([unlinked.status, unlinked.json], [200, { matrix_room_id: roomId, muc: room }]);
  await resident.waitFor((s) => s.is("presence") && s.attrs.type === "unavailable" && s.attrs.from === `${room}/${ownerNick}`, "the puppet leaves the MUC");
  assert.deepEqual((await call("GET", `/links?matrix_room_id=${encodeURIComponent(roomId)}`)).json, { links: [], total: 0 });
  const twice = await call("POST", "/unlink", { matrix_room_id: roomId, user_id: owner.userId });
  assert.deepEqual([twice.status, twice.json.errcode], [404, "XMPP_NOT_BRIDGED"]);
});

test("a private room the bot cannot join is refused with a clear errcode", async () => {
  const owner = await MatrixTestClient.register(uniqueName("private"));
  const roomId = await owner.createRoom({ preset: "private_chat" });
  const refused = await call("POST", "/link", { matrix_room_id: roomId, muc: `x@${stack.mucDomain}`, user_id: owner.userId });
  assert.deepEqual([refused.status, refused.json.errcode], [403, "XMPP_BOT_NOT_IN_ROOM"]);
  assert.match(refused.json.error, /invite @xmppbot:/);
});

test("more requests than the limit in a minute are answered 429", async () => {
  let answer: { status: number; json: any } | undefined;
  // Twice the limit and more: enough even if a new minute began during the loop.
  for (let i = 0; i < 2 * REQUESTS_PER_MINUTE + 2 && answer?.status !== 429; i++) answer = await call("GET", "/status", undefined, "a-guess");
  assert.equal(answer?.status, 429);
  assert.equal(answer?.json.errcode, "M_LIMIT_EXCEEDED");
  // The right token does not lift it.
  assert.equal((await call("GET", "/status")).status, 429);
});
