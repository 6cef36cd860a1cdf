/**
 * Fairness: one sender flooding one room holds up neither other rooms nor, past the per-sender rate
 * limit, the room's other senders; the flooder is told once, and every message they sent arrives, in
 * order, once. Orders of arrival are asserted, never durations.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { xml } from "@xmpp/client";
import { bodyOf, portalScene, puppetOf, type Stanza } from "./scenes.js";
import { MatrixTestClient, type ClientEvent } from "./matrix-client.js";
import { XmppTestClient } from "./xmpp-client.js";
import { bridgeSuite, eventually, sleep, stack, uniqueName } from "./harness.js";

// Held messages pass at 2 a second: slower than a flood arrives, so the flood stays held to its end.
const LIMIT = { messagesPerMinute: 120, burst: 10 };
const suite = bridgeSuite({ limits: { perSender: LIMIT } });
const FLOOD = 150;
const floodBodies = Array.from({ length: FLOOD }, (_, i) => `f${i + 1}`);
const isFlood = (body: unknown): boolean => typeof body === "string" && /^f\d+$/.test(body);
const TOLD = /faster than the bridge passes messages on/;

async function login(name: string): Promise<XmppTestClient> {
  const client = await XmppTestClient.login(uniqueName(name));
  suite.xmppClients.push(client);
  return client;
}

/** An XMPP user opens a DM with the Matrix user, who accepts it. */
async function openDm(xmppUser: XmppTestClient, matrixUser: MatrixTestClient, first: string): Promise<string> {
  await xmppUser.send(xml("message", { to: puppetOf(matrixUser.userId), type: "chat", id: first }, xml("body", {}, first)));
  const roomId = await matrixUser.waitForInvite();
  await matrixUser.join(roomId);
  await matrixUser.waitForEvent((e) => e.room_id === roomId && e.content.body === first, first);
  return roomId;
}

const notices = (xmppUser: XmppTestClient): Stanza[] => xmppUser.stanzas.filter((s) => s.is("message") && s.attrs.from === stack.componentDomain && TOLD.test(bodyOf(s) ?? ""));

test("an XMPP user's flood in a DM holds up no other room; every flood message arrives in order, once; the flooder is told once", async () => {
  const flooder = await login("flood");
  const other = await login("other");
  const matrixUser = await MatrixTestClient.register(uniqueName("m"));
  const floodRoom = await openDm(flooder, matrixUser, "hello from the flooder");
  const otherRoom = await openDm(other, matrixUser, "hello from the other");

  for (const body of floodBodies) await flooder.send(xml("message", { to: puppetOf(matrixUser.userId), type: "chat", id: body }, xml("body", {}, body)));
  await other.send(xml("message", { to: puppetOf(matrixUser.userId), type: "chat", id: "o1" }, xml("body", {}, "the other room")));

  // What the Matrix user's syncs bring, batch by batch: the order of arrival.
  const arrivals: string[] = [];
  const seen = (roomId: string): string[] => matrixUser.messages(roomId).map((e) => e.content.body as string);
  await eventually(async () => {
    await matrixUser.sync(1000);
    for (const body of [...seen(floodRoom), ...seen(otherRoom)]) if (!arrivals.includes(body)) arrivals.push(body);
    return arrivals.includes("the other room") && arrivals.includes(`f${FLOOD}`) ? true : undefined;
  }, "the other room's message and the whole flood", 300_000);
  const flooded = arrivals.filter(isFlood);
  assert.ok(flooded.indexOf(`f${FLOOD}`) > -1);
  const before = arrivals.slice(0, arrivals.indexOf("the other room")).filter(isFlood).length;
  assert.ok(before < FLOOD, `the other room's message arrived only after the whole flood`);

  assert.deepEqual((await matrixUser.history(floodRoom)).map((e) => e.content.body).filter(isFlood), floodBodies, "every flood message, in order, once");
  await eventually(() => (notices(flooder).length > 0 ? true : undefined), "the flooder told of the rate limit");
  await sleep(1000);
  assert.equal(notices(flooder).length, 1, "told once per burst, not per message");
  assert.equal(notices(other).length, 0);
});

test("a Matrix user's flood in a DM holds up no other room; every flood message arrives in order, once; the flooder is told once", async () => {
  const xmppUser = await login("x");
  const flooder = await MatrixTestClient.register(uniqueName("mf"));
  const calm = await MatrixTestClient.register(uniqueName("mc"));
  const floodRoom = await openDm(xmppUser, flooder, "hello to the flooder");
  const calmRoom = await openDm(xmppUser, calm, "hello to the calm one");

  // Ten requests at a time: faster than the rate limit passes them on, as a flood is.
  for (let i = 0; i < FLOOD; i += 10) {
    await Promise.all(floodBodies.slice(i, i + 10).map((body) => flooder.sendText(floodRoom, body)));
    if (i === 20) await calm.sendText(calmRoom, "the other room");
  }

  const fromFlooder = (s: Stanza): boolean => s.is("message") && s.attrs.from?.split("/")[0] === puppetOf(flooder.userId);
  await xmppUser.waitFor((s) => bodyOf(s) === "the other room", "the other room's message", 120_000);
  const before = xmppUser.stanzas.filter((s) => fromFlooder(s) && isFlood(bodyOf(s))).length;
  assert.ok(before < FLOOD, "the other room's message arrived only after the whole flood");

  await eventually(() => (xmppUser.stanzas.filter((s) => fromFlooder(s) && isFlood(bodyOf(s))).length >= FLOOD ? true : undefined), "the whole flood on XMPP", 300_000);
  await sleep(1000);
  const matrixOrder = (await flooder.history(floodRoom)).map((e) => e.content.body as string).filter(isFlood);
  assert.equal(matrixOrder.length, FLOOD);
  assert.deepEqual(xmppUser.stanzas.filter(fromFlooder).map((s) => bodyOf(s)).filter(isFlood), matrixOrder, "every flood message, in the room's order, once");

  // From the room's history: a sync skips most of a burst.
  const told = async (): Promise<ClientEvent[]> =>
    (await flooder.history(floodRoom)).filter((e) => e.content.msgtype === "m.notice" && TOLD.test(e.content.body) && e.content.body.startsWith(flooder.userId));
  await eventually(async () => ((await told()).length > 0 ? true : undefined), "the flooder told of the rate limit");
  await sleep(1000);
  assert.equal((await told()).length, 1, "told once per burst, not per message");
});

test("in a MUC, another occupant's message passes a flooder's held messages; the flood arrives whole, in order", async () => {
  const { room, xmppUser: flooder, matrixUser, roomId } = await portalScene(suite, "floodmuc");
  const other = await login("occupant");
  await other.send(xml("presence", { to: `${room}/calm` }, xml("x", { xmlns: "http://jabber.org/protocol/muc" })));
  await other.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/calm`, "the other occupant in the room");
  await eventually(() => matrixUser.memberNamed(roomId, "calm"), "the other occupant's ghost in the portal");

  for (const body of floodBodies) await flooder.send(xml("message", { to: room, type: "groupchat", id: body }, xml("body", {}, body)));
  await flooder.waitFor((s) => s.attrs.from === `${room}/xena` && bodyOf(s) === `f${FLOOD}`, "the flood's reflection", 60_000);
  await other.send(xml("message", { to: room, type: "groupchat", id: "o1" }, xml("body", {}, "the other occupant")));

  const bodies = async (): Promise<string[]> => (await matrixUser.history(roomId)).map((e) => e.content.body as string);
  await eventually(async () => ((await bodies()).filter(isFlood).length >= FLOOD ? true : undefined), "the whole flood on Matrix", 300_000);
  const order = await bodies();
  assert.deepEqual(order.filter(isFlood), floodBodies, "every flood message, in order, once");
  assert.ok(order.indexOf("the other occupant") < order.indexOf(`f${FLOOD}`), "the other occupant's message went before the flood's tail");
});
