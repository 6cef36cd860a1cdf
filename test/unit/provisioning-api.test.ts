import { describe, it, before, after } from "node:test";
import { once } from "node:events";
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { provisioningApp, ProvisioningError, type ProvisioningHandlers } from "../../src/http/provisioning-api.js";

const SECRET = "a-secret-of-enough-length";
const links = [
  { kind: "portal" as const, roomId: "!a:hs", muc: "a@muc.x" },
  { kind: "dm" as const, roomId: "!b:hs", matrixUser: "@u:hs", xmppUser: "u@x" },
];
const handlers: ProvisioningHandlers = {
  link: async (_roomId, muc) => {
    if (muc === "taken@muc.x") throw new ProvisioningError("XMPP_DOUBLE_BRIDGE", "taken@muc.x is bridged to another room already");
    if (muc === "broken@muc.x") throw new Error("the store fell over at /secret/path");
    return { name: "A room" };
  },
  unlink: async () => ({ muc: "a@muc.x" }),
  links: async (from, limit) => ({ links: links.slice(from, from + limit), total: links.length }),
  lookup: async (muc) => ({ muc, name: "A room", alias: "#_xmpp_a=40muc.x:hs" }),
  status: async () => ({ parts: [{ name: "redis", up: true }], waiting: undefined }),
};
const server = provisioningApp({ secret: SECRET, requestsPerMinute: 1000 }, handlers, pino({ level: "silent" })).listen(0, "127.0.0.1");
before(() => once(server, "listening"));
after(() => server.close());

async function call(method: string, path: string, body?: string): Promise<{ status: number; json: any }> {
  const { port } = server.address() as AddressInfo;
  const res = await fetch(`http://127.0.0.1:${port}/_matrix/provision/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${SECRET}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body }),
  });
  return { status: res.status, json: await res.json() };
}
const link = (fields: Record<string, unknown>) => call("POST", "/link", JSON.stringify({ matrix_room_id: "!r:hs", muc: "A@Muc.x", user_id: "@u:hs", ...fields }));

describe("the provisioning API's HTTP side", () => {
  it("reads the parameters, in lower case for a MUC, and names the one missing or wrong", async () => {
    assert.deepEqual(await link({}), { status: 200, json: { matrix_room_id: "!r:hs", muc: "a@muc.x", name: "A room" } });
    assert.deepEqual(await link({ user_id: undefined }), { status: 400, json: { errcode: "M_MISSING_PARAM", error: "user_id is required" } });
    assert.deepEqual(await link({ muc: "room@muc.x/nick" }), { status: 400, json: { errcode: "M_INVALID_PARAM", error: "muc: not a MUC's JID (room@service)" } });
    assert.deepEqual(await link({ user_id: "alice" }), { status: 400, json: { errcode: "M_INVALID_PARAM", error: "user_id: not a Matrix user ID" } });
    assert.deepEqual((await call("POST", "/link", "{not json")).json.errcode, "M_NOT_JSON");
    assert.deepEqual((await call("GET", "/links?limit=0")).json.errcode, "M_INVALID_PARAM");
  });

  it("answers a refusal with its errcode and status, and a failure without its details", async () => {
    assert.deepEqual(await link({ muc: "taken@muc.x" }), { status: 409, json: { errcode: "XMPP_DOUBLE_BRIDGE", error: "taken@muc.x is bridged to another room already" } });
    const failed = await link({ muc: "broken@muc.x" });
    assert.equal(failed.status, 500);
    assert.equal(failed.json.errcode, "M_UNKNOWN");
    assert.doesNotMatch(failed.json.error, /secret/);
  });

  it("pages through the links with next_batch, and renders each kind", async () => {
    const first = await call("GET", "/links?limit=1");
    assert.deepEqual(first.json, { links: [{ kind: "portal", matrix_room_id: "!a:hs", muc: "a@muc.x" }], total: 2, next_batch: "1" });
    const second = await call("GET", `/links?limit=1&from=${first.json.next_batch}`);
    assert.deepEqual(second.json, { links: [{ kind: "dm", matrix_room_id: "!b:hs", matrix_user: "@u:hs", xmpp_user: "u@x" }], total: 2 });
  });

  it("says the status, null for the queues while Redis cannot be read", async () => {
    assert.deepEqual((await call("GET", "/status")).json, { parts: { redis: "up" }, waiting: null });
    assert.deepEqual((await call("GET", "/lookup?muc=a@muc.x")).json, { muc: "a@muc.x", name: "A room", alias: "#_xmpp_a=40muc.x:hs", link: null });
  });
});
