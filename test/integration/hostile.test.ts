/**
 * The hostile-input corpus (test/corpus/) through the real stack: stanzas real XMPP clients send into
 * a portal's MUC and to a puppet, nicks they join with, and Matrix events sent through the homeserver
 * or, where it would refuse them, pushed to the bridge as the homeserver would. After each input the
 * bridge is still up with its component stream, has logged the line the corpus names and no error,
 * the next good message crosses, and a message with a usable plain body arrived as that plain text.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { bodyOf, portalScene, puppetOf, putTransaction, type Stanza } from "./scenes.js";
import { bridgeSuite, portalAliasOf, ROOT, stack, uniqueName, type LogRecord } from "./harness.js";
import { MatrixTestClient, type ClientEvent } from "./matrix-client.js";
import { XmppTestClient, xml } from "./xmpp-client.js";

interface Expectation {
  name: string;
  /** The plain text that must arrive (in parts, if it was cut), or null when nothing may. */
  plain?: string | null;
  plainStartsWith?: string;
  /** The message of the log record the input must leave; null where the bridge never sees it. */
  log: string | null;
  /** Text that must appear nowhere in what arrives. */
  absent?: string[];
}
interface XmppCase extends Expectation {
  to: "room" | "puppet" | "stream";
  xml: string;
  /** XMPP servers it is not sent to, and why (what takes the server itself down). */
  skipOn?: Partial<Record<typeof stack.xmppServer, string>>;
}
interface MatrixCase extends Expectation {
  via: "client" | "transaction";
  type?: string;
  state_key?: string;
  redacts?: string;
  sender?: "outsider";
  content: unknown;
}

const corpus = <T>(file: string): T[] => JSON.parse(readFileSync(join(ROOT, "test/corpus", file), "utf8")) as T[];

/** Fills in the corpus's placeholders; {repeat:N:text} first, so what it repeats may hold others. */
function expand(template: string, values: Record<string, string>): string {
  return template
    .replace(/\{repeat:(\d+):([^}]*)\}/g, (_, n: string, text: string) => text.repeat(Number(n)))
    .replace(/\{(\w+)\}/g, (whole, key: string) => values[key] ?? whole);
}
const expandJson = (value: unknown, values: Record<string, string>): unknown =>
  JSON.parse(expand(JSON.stringify(value), Object.fromEntries(Object.entries(values).map(([k, v]) => [k, JSON.stringify(v).slice(1, -1)]))));

const outsider = uniqueName("outsider");
const suite = bridgeSuite(async () => ({ bridge: { permissions: { "*": "user", [`@${outsider}:${stack.matrixDomain}`]: "none" } } }));

/** What the bridge logged since `mark`: no error, the line the input should leave, and the stream held. */
function checkLog(since: number, input: Expectation, id: string): void {
  const records = suite.bridge.records.slice(since);
  const errors = records.filter((r) => r.level === "error" || r.level === "fatal");
  assert.deepEqual(errors, [], `${input.name}: no error logged`);
  assert.equal(suite.bridge.proc.exitCode, null, `${input.name}: the bridge is still running`);
  const drops = suite.bridge.records.filter((r) => r.msg === "component connection offline" || r.msg === "the XMPP server closed the component stream");
  assert.deepEqual(drops, [], `${input.name}: the component stream stayed up`);
  if (input.log === null) return;
  // Lines every message leaves must name this input; a line of its own is enough by its words.
  const generic = input.log === "message handled" || input.log === "event handled";
  const line = records.find((r: LogRecord) => r.msg === input.log && (!generic || JSON.stringify(r).includes(id)));
  assert.ok(line, `${input.name}: the bridge logged "${input.log}"; it logged: ${JSON.stringify(records.map((r) => r.msg))}`);
}

function checkArrived(input: Expectation, bodies: string[], raw: string): void {
  const text = bodies.join("");
  if (typeof input.plain === "string") input = { ...input, plain: expand(input.plain, {}) };
  if (input.plainStartsWith !== undefined) assert.ok(text.startsWith(input.plainStartsWith), `${input.name}: arrived as ${JSON.stringify(text.slice(0, 200))}`);
  else if (input.plain === null) assert.deepEqual(bodies, [], `${input.name}: nothing arrives`);
  else if (input.plain !== undefined) assert.ok(text === input.plain, `${input.name}: arrived as ${JSON.stringify(text.slice(0, 200))} (${text.length} chars), expected ${JSON.stringify(input.plain.slice(0, 200))} (${input.plain.length} chars)`);
  for (const word of input.absent ?? []) assert.ok(!raw.includes(word), `${input.name}: "${word}" does not arrive`);
}

/** The messages of a room between two of its events (exclusive), by the homeserver's order; notices apart. */
async function between(client: MatrixTestClient, roomId: string, after: string | undefined, until: string): Promise<ClientEvent[]> {
  const history = await client.history(roomId);
  const start = after ? history.findIndex((e) => e.event_id === after) + 1 : 0;
  const end = history.findIndex((e) => e.event_id === until);
  return history.slice(start, end).filter((e) => e.content.msgtype !== "m.notice");
}

test("hostile stanzas into a portal's MUC and to a puppet: the bridge holds, says what it did, and the plain text crosses", async () => {
  const p = await portalScene(suite, "hostile");
  const puppet = puppetOf(p.matrixUser.userId);
  let fenceNo = 0;
  let lastStanzaId = stanzaIdOf(await p.say("warm-up", "warm-up"));
  let lastFence = (await p.fromXmpp((e) => e.content.body === "warm-up", "warm-up")).event_id;
  // The direct chat the puppet cases land in, opened by a first good message.
  await p.xmppUser.send(xml("message", { to: puppet, type: "chat", id: "dm-open" }, xml("body", {}, "hello puppet")));
  const dmRoom = await p.matrixUser.waitForInvite();
  await p.matrixUser.join(dmRoom);
  let lastDmFence = (await p.matrixUser.waitForEvent((e) => e.room_id === dmRoom && e.content.body === "hello puppet", "the first direct message")).event_id;

  for (const input of corpus<XmppCase>("xmpp.json")) {
    const skip = input.skipOn?.[stack.xmppServer];
    if (skip) {
      console.log(`# ${input.name}: not sent to ${stack.xmppServer}: ${skip}`);
      continue;
    }
    const id = `hostile-${++fenceNo}-${Date.now().toString(36)}`;
    const mark = suite.bridge.records.length;
    const stanza = expand(input.xml, { room: p.room, puppet, id, stanzaId: lastStanzaId, xmppDomain: stack.xmppDomain });
    if (input.to === "stream") {
      // The server may refuse it or close the stream: a client of its own, thrown away after.
      const thrower = await XmppTestClient.login(uniqueName("thrower"));
      await thrower.sendRaw(stanza).catch(() => undefined);
      await thrower.stop();
      const fence = `after ${input.name}`;
      await p.xmppUser.send(xml("message", { to: puppet, type: "chat", id: `${id}-fence` }, xml("body", {}, fence)));
      const arrived = await p.matrixUser.waitForEvent((e) => e.room_id === dmRoom && e.content.body === fence, `the message after ${input.name}`);
      // The server refuses the stanza or closes the stream; or it puts the sender's own address on it, and that one's direct chat opens.
      const elsewhere = JSON.stringify([...p.matrixUser.inviteState.values(), ...p.matrixUser.timeline.values()]);
      checkArrived(input, (await between(p.matrixUser, dmRoom, lastDmFence, arrived.event_id)).map((e) => e.content.body as string), elsewhere);
      lastDmFence = arrived.event_id;
    } else if (input.to === "room") {
      await p.xmppUser.sendRaw(stanza);
      const fence = `after ${input.name}`;
      lastStanzaId = stanzaIdOf(await p.say(`${id}-fence`, fence));
      const arrived = await p.fromXmpp((e) => e.content.body === fence, `the message after ${input.name}`);
      const events = await between(p.matrixUser, p.roomId, lastFence, arrived.event_id);
      // The MUC reflects what it passes on to its sender, before the next message: what it dropped never reached the bridge.
      const passedOn = p.xmppUser.stanzas.some((s) => s.attrs.id === id && s.attrs.from === `${p.room}/xena` && s.attrs.type !== "error");
      const expected = passedOn ? input : { ...input, plain: null, log: null };
      if (!passedOn) console.log(`# ${input.name}: the MUC did not pass it on`);
      checkArrived(expected, events.map((e) => e.content.body as string), JSON.stringify(events.map((e) => e.content)));
      lastFence = arrived.event_id;
      checkLog(mark, expected, id);
      continue;
    } else {
      await p.xmppUser.sendRaw(stanza);
      const fence = `after ${input.name}`;
      await p.xmppUser.send(xml("message", { to: puppet, type: "chat", id: `${id}-fence` }, xml("body", {}, fence)));
      const arrived = await p.matrixUser.waitForEvent((e) => e.room_id === dmRoom && e.content.body === fence, `the message after ${input.name}`);
      const events = await between(p.matrixUser, dmRoom, lastDmFence, arrived.event_id);
      checkArrived(input, events.map((e) => e.content.body as string), JSON.stringify(events.map((e) => e.content)));
      lastDmFence = arrived.event_id;
    }
    checkLog(mark, input, id);
  }
  // The other way still works too.
  await p.matrixUser.sendText(p.roomId, "still bridging");
  await p.fromMatrix("still bridging");
});

test("hostile nicks: an occupant who joins with one is heard, under a name Matrix takes", async () => {
  const p = await portalScene(suite, "hostilenick");
  for (const input of corpus<{ name: string; nick: string }>("nicks.json")) {
    const mark = suite.bridge.records.length;
    const nick = expand(input.nick, {});
    const occupant = await XmppTestClient.login(uniqueName("nick"));
    suite.xmppClients.push(occupant);
    await occupant.send(xml("presence", { to: `${p.room}/${nick}` }, xml("x", { xmlns: "http://jabber.org/protocol/muc" })));
    const answer = await occupant.waitFor((s) => s.is("presence") && s.attrs.from?.startsWith(`${p.room}/`) === true && (s.attrs.type === "error" || s.getChild("x", "http://jabber.org/protocol/muc#user")?.getChildren("status").some((c) => c.attrs.code === "110") === true), `${input.name}: the MUC's answer`);
    if (answer.attrs.type !== "error") {
      const said = `said by ${input.name}`;
      await occupant.send(xml("message", { to: p.room, type: "groupchat", id: uniqueName("n") }, xml("body", {}, said)));
      const event = await p.fromXmpp((e) => e.content.body === said, `the message of ${input.name}`);
      const member = await p.matrixUser.request<{ displayname?: string }>("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(p.roomId)}/state/m.room.member/${encodeURIComponent(event.sender)}`);
      assert.ok([...(member.displayname ?? "")].length <= 256, `${input.name}: a display name Matrix takes`);
    }
    await occupant.send(xml("presence", { to: `${p.room}/${nick}`, type: "unavailable" }));
    const fence = `after ${input.name}`;
    await p.say(uniqueName("f"), fence);
    await p.fromXmpp((e) => e.content.body === fence, `the message after ${input.name}`);
    checkLog(mark, { name: input.name, log: null }, "");
  }
});

test("hostile Matrix events: the bridge holds, says what it did, and the plain text crosses", async () => {
  const p = await portalScene(suite, "hostilemx");
  const outsiderClient = await MatrixTestClient.register(outsider);
  await outsiderClient.join(portalAliasOf(p.room));
  await p.say("known", "a message to react to");
  let xmppEvent = (await p.fromXmpp((e) => e.content.body === "a message to react to", "the XMPP message")).event_id;
  const maxSays = (s: Stanza) => s.is("message") && s.attrs.from === `${p.room}/Max`;
  let n = 0;
  for (const input of corpus<MatrixCase>("matrix.json")) {
    const mark = suite.bridge.records.length;
    const seen = p.xmppUser.stanzas.length;
    const values = { xmppEvent, sender: p.matrixUser.userId };
    const content = expandJson(input.content, values) as Record<string, unknown>;
    const type = input.type ?? "m.room.message";
    let id: string;
    if (input.via === "client") {
      const sender = input.sender === "outsider" ? outsiderClient : p.matrixUser;
      id = await sender.send(p.roomId, content, type);
    } else {
      id = `$hostile-${++n}-${Date.now().toString(36)}`;
      const event = {
        type,
        room_id: p.roomId,
        sender: p.matrixUser.userId,
        event_id: id,
        origin_server_ts: Date.now(),
        content,
        ...(input.state_key !== undefined ? { state_key: expand(input.state_key, values) } : {}),
        ...(input.redacts !== undefined ? { redacts: input.redacts } : {}),
      };
      assert.equal((await putTransaction(`hostile-${id.slice(1)}`, [event])).status, 200);
    }
    const fence = `after ${input.name}`;
    await p.matrixUser.sendText(p.roomId, fence);
    await p.fromMatrix(fence);
    const arrived = p.xmppUser.stanzas.slice(seen).filter((s) => maxSays(s) && bodyOf(s) !== null && bodyOf(s) !== fence);
    checkArrived(input, arrived.map((s) => bodyOf(s)!), arrived.map((s) => s.toString()).join("\n"));
    checkLog(mark, input, id);
    // A fresh message to react to, for the next input.
    if (input.type === "m.reaction") {
      await p.say(uniqueName("k"), `another message to react to ${n}`);
      xmppEvent = (await p.fromXmpp((e) => e.content.body === `another message to react to ${n}`, "the XMPP message")).event_id;
    }
  }
  await p.say("last", "still bridging back");
  await p.fromXmpp((e) => e.content.body === "still bridging back", "the last XMPP message");
});

function stanzaIdOf(reflection: Stanza): string {
  return reflection.getChildren("stanza-id", "urn:xmpp:sid:0").find((e) => e.attrs.by !== undefined)?.attrs.id ?? "";
}
