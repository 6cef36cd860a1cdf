import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { MatrixTestClient } from "./matrix-client.js";
import { baseConfig, bridgeSuite, portalAliasOf, stack, uniqueName } from "./harness.js";
import { bodyOf, xmppUserInMuc } from "./scenes.js";

const suite = bridgeSuite();

/** What a Matrix client finds through the homeserver's third-party lookups (client-server API). */
const lookUp = (user: MatrixTestClient, path: string) => user.request("GET", `/_matrix/client/v3/thirdparty/${path}`);

/**
 * Synapse serves the reverse lookups (by alias, by user ID) only for a protocol named in the path, which
 * they have not: they are asked of the bridge as the homeserver would ask them.
 */
async function asHomeserver(path: string): Promise<{ status: number; json: any }> {
  const { hs_token } = parseYaml(readFileSync(stack.registrationFile, "utf8")) as { hs_token: string };
  const res = await fetch(`http://127.0.0.1:${baseConfig().appservice.port}/_matrix/app/v1/thirdparty/${path}`, { headers: { authorization: `Bearer ${hs_token}` } });
  return { status: res.status, json: await res.json() };
}

test("the homeserver lists the xmpp protocol, with its fields and one instance", async () => {
  const user = await MatrixTestClient.register(uniqueName("directory"));
  const protocols = await lookUp(user, "protocols");
  assert.deepEqual(protocols.xmpp.location_fields, ["muc"]);
  assert.deepEqual(protocols.xmpp.user_fields, ["jid"]);
  assert.equal(protocols.xmpp.instances.length, 1);
  assert.equal(protocols.xmpp.instances[0].network_id, "xmpp");
  assert.match(protocols.xmpp.instances[0].instance_id, /\|xmpp$/);
  assert.deepEqual((await lookUp(user, "protocol/xmpp")).location_fields, ["muc"]);
});

test("a MUC's location is its portal alias, and joining that alias opens the portal", async () => {
  const room = `${uniqueName("directory")}@${stack.mucDomain}`;
  const host = await xmppUserInMuc(suite, room, "host");
  const user = await MatrixTestClient.register(uniqueName("finder"));
  const alias = portalAliasOf(room);
  assert.deepEqual(await lookUp(user, `location/xmpp?muc=${encodeURIComponent(room)}`), [{ alias, protocol: "xmpp", fields: { muc: room } }]);
  assert.deepEqual(await lookUp(user, `location/xmpp?muc=${encodeURIComponent(`${uniqueName("nobody")}@${stack.mucDomain}`)}`), []);

  const roomId = await user.join(alias);
  const nick = user.userId.slice(1).split(":")[0];
  await host.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/${nick}`, "the finder's puppet in the MUC");
  await user.sendText(roomId, "found you in the directory");
  await host.waitFor((s) => bodyOf(s) === "found you in the directory", "the message in the MUC");
  // Now the portal exists, the MUC leads to it.
  assert.deepEqual(await lookUp(user, `location/xmpp?muc=${encodeURIComponent(room)}`), [{ alias, protocol: "xmpp", fields: { muc: room } }]);

  const byAlias = await asHomeserver(`location?alias=${encodeURIComponent(alias)}`);
  assert.deepEqual(byAlias.json, [{ alias, protocol: "xmpp", fields: { muc: room } }]);
  const notOurs = await asHomeserver(`location?alias=${encodeURIComponent(`#elsewhere:${stack.matrixDomain}`)}`);
  assert.deepEqual([notOurs.status, notOurs.json.errcode], [404, "M_NOT_FOUND"]);
});

test("an XMPP user's JID leads to their ghost, and the ghost back to the JID", async () => {
  const user = await MatrixTestClient.register(uniqueName("searcher"));
  const jid = `${uniqueName("someone")}@${stack.xmppDomain}`;
  const ghost = `@_xmpp_${jid.replace("@", "=40")}:${stack.matrixDomain}`;
  assert.deepEqual(await lookUp(user, `user/xmpp?jid=${encodeURIComponent(jid)}`), [{ userid: ghost, protocol: "xmpp", fields: { jid } }]);
  const back = await asHomeserver(`user?userid=${encodeURIComponent(ghost)}`);
  assert.deepEqual(back.json, [{ userid: ghost, protocol: "xmpp", fields: { jid } }]);
  const wrongToken = await fetch(`http://127.0.0.1:${baseConfig().appservice.port}/_matrix/app/v1/thirdparty/protocol/xmpp`, { headers: { authorization: "Bearer nope" } });
  assert.equal(wrongToken.status, 403);
});
