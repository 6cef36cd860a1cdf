/**
 * What a bridged message costs the servers, counted on the wire: one homeserver request per message
 * XMPP sends (its PUT), none per message Matrix sends, and no query of the XMPP side (disco, vCard)
 * for either. Everything else the bridge needs (memberships, names, levels) comes from what the
 * servers push to it.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { xml } from "@xmpp/client";
import { baseConfig, bridgeSuite, stack } from "./harness.js";
import { ComponentIqs, HomeserverRequests, type NotedRequest } from "./counting-proxies.js";
import { bodyOf, directChatScene, portalScene } from "./scenes.js";

const MESSAGES = 10;

let homeserver: HomeserverRequests | undefined;
let component: ComponentIqs | undefined;

const suite = bridgeSuite(async () => {
  homeserver ??= await HomeserverRequests.start(stack.synapseUrl);
  const server = new URL(baseConfig().xmpp.service as string);
  component ??= await ComponentIqs.start(server.hostname, Number(server.port));
  return { homeserver: { url: homeserver.url }, xmpp: { service: component.service } };
});
after(async () => {
  await homeserver?.stop();
  await component?.stop();
});

/** Runs `exchange` and returns what the bridge asked of the homeserver and of the XMPP side meanwhile. */
async function counted(exchange: () => Promise<void>): Promise<{ requests: NotedRequest[]; queries: string[] }> {
  const fromRequest = homeserver!.seen.length;
  const fromIq = component!.seen.length;
  await exchange();
  // Pings confirm what the server read (docs/architecture.md); answers carry no payload. Neither asks anything of anyone.
  const queries = component!.since(fromIq).filter((ns) => ns !== "urn:xmpp:ping" && ns !== "");
  return { requests: homeserver!.since(fromRequest), queries };
}

const sendPath = (roomId: string) => new RegExp(`^/_matrix/client/v3/rooms/${encodeURIComponent(roomId).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/send/m\\.room\\.message/`);
const bodies = (prefix: string) => Array.from({ length: MESSAGES }, (_, i) => `${prefix} ${i}`);

test("a direct chat: one homeserver request per message from XMPP, none per message from Matrix, no XMPP queries", async () => {
  const dm = await directChatScene(suite, { id: "first", body: "hello" });
  // Once each way first: what is asked once per conversation (the ghost's profile, the room) is not what is counted.
  await dm.matrixUser.sendText(dm.roomId, "warm-up from Matrix");
  await dm.fromMatrix((s) => bodyOf(s) === "warm-up from Matrix", "the warm-up on XMPP");

  const fromXmpp = await counted(async () => {
    for (const [i, body] of bodies("from XMPP").entries()) await dm.send(`x${i}`, xml("body", {}, body));
    await dm.fromXmpp((e) => e.content.body === `from XMPP ${MESSAGES - 1}`, "the last message on Matrix");
  });
  assert.equal(fromXmpp.requests.length, MESSAGES, `one request per message; got ${JSON.stringify(fromXmpp.requests)}`);
  assert.ok(fromXmpp.requests.every((r) => r.method === "PUT" && sendPath(dm.roomId).test(r.path)), JSON.stringify(fromXmpp.requests));
  assert.deepEqual(fromXmpp.queries, []);
  const onMatrix = dm.matrixUser.messages(dm.roomId).map((e) => e.content.body).filter((b) => b.startsWith("from XMPP"));
  assert.deepEqual(onMatrix, bodies("from XMPP"), "all arrived, in order");

  const fromMatrix = await counted(async () => {
    for (const body of bodies("from Matrix")) await dm.matrixUser.sendText(dm.roomId, body);
    await dm.fromMatrix((s) => bodyOf(s) === `from Matrix ${MESSAGES - 1}`, "the last message on XMPP");
  });
  assert.deepEqual(fromMatrix.requests, []);
  assert.deepEqual(fromMatrix.queries, []);
});

test("a portal: one homeserver request per message from the MUC, none per message from Matrix, no XMPP queries", async () => {
  const portal = await portalScene(suite, "counted");
  await portal.say("warm-up", "warm-up from XMPP");
  await portal.fromXmpp((e) => e.content.body === "warm-up from XMPP", "the warm-up on Matrix");
  await portal.matrixUser.sendText(portal.roomId, "warm-up from Matrix");
  await portal.fromMatrix("warm-up from Matrix");

  const fromXmpp = await counted(async () => {
    for (const [i, body] of bodies("from the MUC").entries()) await portal.xmppUser.send(xml("message", { to: portal.room, type: "groupchat", id: `m${i}` }, xml("body", {}, body)));
    await portal.fromXmpp((e) => e.content.body === `from the MUC ${MESSAGES - 1}`, "the last message on Matrix");
  });
  assert.equal(fromXmpp.requests.length, MESSAGES, `one request per message; got ${JSON.stringify(fromXmpp.requests)}`);
  assert.ok(fromXmpp.requests.every((r) => r.method === "PUT" && sendPath(portal.roomId).test(r.path)), JSON.stringify(fromXmpp.requests));
  assert.deepEqual(fromXmpp.queries, []);

  const fromMatrix = await counted(async () => {
    for (const body of bodies("from Max")) await portal.matrixUser.sendText(portal.roomId, body);
    await portal.fromMatrix(`from Max ${MESSAGES - 1}`);
  });
  assert.deepEqual(fromMatrix.requests, []);
  assert.deepEqual(fromMatrix.queries, []);
});
