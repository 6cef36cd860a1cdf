/**
 * The two settings most integration tests start from, with real users on both sides: a MUC and its
 * portal, and a direct chat an XMPP user opened.
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { xml } from "@xmpp/client";
import { baseConfig, eventually, homeserverRecovering, portalAliasOf, sleep, stack, uniqueName, type bridgeSuite } from "./harness.js";
import { MatrixTestClient, type ClientEvent } from "./matrix-client.js";
import { XmppTestClient } from "./xmpp-client.js";

export type Stanza = ReturnType<typeof xml>;
/** What a scene needs of the suite: where to keep its clients, to be stopped after the tests. */
type Suite = Pick<ReturnType<typeof bridgeSuite>, "xmppClients">;
type EventPredicate = (e: ClientEvent) => boolean;

export const bodyOf = (s: Stanza): string | null => s.getChildText("body");
export const stanzaIdOf = (s: Stanza, by: string): string | undefined => s.getChildren("stanza-id", "urn:xmpp:sid:0").find((e) => e.attrs.by === by)?.attrs.id;

/** A Matrix user's puppet: `localpart%server@component`. */
export const puppetOf = (userId: string): string => `${userId.slice(1).replace(":", "%")}@${stack.componentDomain}`;

/** An XMPP user's ghost: `@_xmpp_user=40server:homeserver`. */
export const ghostOf = (jid: string): string => `@_xmpp_${jid.replace("@", "=40")}:${stack.matrixDomain}`;

/** The bridge bot's user ID (the stack's config keeps the default localpart). */
export const BOT = (): string => `@xmppbot:${stack.matrixDomain}`;

/** A room with the bot in it, made by the Matrix user. */
export async function roomWithBot(user: MatrixTestClient): Promise<string> {
  const roomId = await user.createRoom({ preset: "private_chat", invite: [BOT()] });
  await eventually(async () => ((await user.members(roomId)).get(BOT()) === "join" ? true : undefined), "the bot to join");
  return roomId;
}

/** The bot's next notice in the room that matches. */
export const noticeAfter = (user: MatrixTestClient, roomId: string, pattern: RegExp, what: string): Promise<ClientEvent> =>
  user.waitForEvent((e) => e.room_id === roomId && e.sender === BOT() && e.content.msgtype === "m.notice" && pattern.test(e.content.body), what);

/** A Client-Server API request as the bridge's bot, the admin of every portal. */
export function asBridgeBot(method: string, path: string, body?: unknown): Promise<any> {
  const registration = parseYaml(readFileSync(stack.registrationFile, "utf8")) as { as_token: string };
  return fetch(`${stack.synapseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${registration.as_token}`, "content-type": "application/json" },
    ...(body ? { body: JSON.stringify(body) } : {}),
  }).then((r) => r.json());
}

/** A transaction sent to the bridge's Application Service API as the homeserver would send it. */
export function putTransaction(txnId: string, events: unknown[]): Promise<Response> {
  const registration = parseYaml(readFileSync(stack.registrationFile, "utf8")) as { hs_token: string };
  const port = (baseConfig().appservice as { port: number }).port;
  return fetch(`http://127.0.0.1:${port}/_matrix/app/v1/transactions/${txnId}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${registration.hs_token}`, "content-type": "application/json" },
    body: JSON.stringify({ events }),
  });
}

/** A new XMPP user who entered the MUC (creating it, if it is new) under the nick. */
export async function xmppUserInMuc(suite: Suite, room: string, nick: string, localpart = uniqueName(nick)): Promise<XmppTestClient> {
  const user = await XmppTestClient.login(localpart);
  suite.xmppClients.push(user);
  await user.send(xml("presence", { to: `${room}/${nick}` }, xml("x", { xmlns: "http://jabber.org/protocol/muc" })));
  await user.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/${nick}`, "self-presence");
  return user;
}

/** The owner submits one room configuration field (XEP-0045 §10.2). */
export async function configureMuc(owner: XmppTestClient, room: string, field: string, value: string): Promise<void> {
  await owner.iq(
    xml(
      "iq",
      { type: "set", to: room, id: `cfg-${field}` },
      xml(
        "query",
        { xmlns: "http://jabber.org/protocol/muc#owner" },
        xml(
          "x",
          { xmlns: "jabber:x:data", type: "submit" },
          xml("field", { var: "FORM_TYPE" }, xml("value", {}, "http://jabber.org/protocol/muc#roomconfig")),
          xml("field", { var: field }, xml("value", {}, value)),
        ),
      ),
    ),
  );
}

/** A MUC where the XMPP user "xena" talks with the Matrix user "Max", who joined its portal. */
export async function portalScene(suite: Suite, name: string) {
  const room = `${uniqueName(name)}@${stack.mucDomain}`;
  const xmppUser = await xmppUserInMuc(suite, room, "xena", uniqueName("x"));
  const matrixUser = await MatrixTestClient.register(uniqueName("m"));
  await matrixUser.request("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(matrixUser.userId)}/displayname`, { displayname: "Max" });
  const roomId = await matrixUser.join(portalAliasOf(room));
  await xmppUser.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Max`, "the puppet in the MUC");
  const fromMatrix = (body: string) => xmppUser.waitFor((s) => s.is("message") && s.attrs.from === `${room}/Max` && bodyOf(s) === body, `"${body}" on XMPP`);
  const fromXmpp = (pred: EventPredicate, what: string) => matrixUser.waitForEvent((e) => e.room_id === roomId && pred(e), what);
  /** The XMPP user's own message as the MUC reflected it, with the room's stanza-id. */
  const say = async (id: string, body: string, ...extra: Stanza[]) => {
    await xmppUser.send(xml("message", { to: room, type: "groupchat", id }, xml("body", {}, body), ...extra));
    return xmppUser.waitFor((s) => s.is("message") && s.attrs.from === `${room}/xena` && s.attrs.id === id, "the reflection");
  };
  /** Max uploads a PNG and posts it as m.image; resolves with the message XMPP gets for it. */
  const postImage = async (png: Buffer, name: string, size: { width: number; height: number }) => {
    const mxc = await matrixUser.upload(png, "image/png", name);
    await matrixUser.send(roomId, { msgtype: "m.image", body: name, url: mxc, info: { mimetype: "image/png", size: png.length, w: size.width, h: size.height } });
    return xmppUser.waitFor((s) => s.is("message") && s.attrs.from === `${room}/Max` && s.getChild("x", "jabber:x:oob") !== undefined, `${name} on XMPP`);
  };
  /** Max sets a state event of the portal. */
  const setState = (type: string, content: Record<string, unknown>) =>
    matrixUser.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/${type}/`, content);
  /** The portal's admin (the bridge bot) lets Max change the room's state on Matrix. */
  const makeMaxModerator = async () => {
    const levelsPath = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.power_levels/`;
    const levels = (await asBridgeBot("GET", levelsPath)) as { users: Record<string, number> };
    await asBridgeBot("PUT", levelsPath, { ...levels, users: { ...levels.users, [matrixUser.userId]: 50 } });
  };
  /** The MUC's creator, its owner, makes Max's puppet an owner too. */
  const makePuppetOwner = () =>
    xmppUser.iq(xml("iq", { type: "set", to: room }, xml("query", { xmlns: "http://jabber.org/protocol/muc#admin" }, xml("item", { affiliation: "owner", jid: puppetOf(matrixUser.userId) }))));
  return { room, xmppUser, matrixUser, roomId, fromMatrix, fromXmpp, say, postImage, setState, makeMaxModerator, makePuppetOwner };
}

/**
 * A conversation both ways in a portal's scene: the XMPP user says "x0", "x1"... and Max "m0", "m1"..., one
 * after the other (concurrent Matrix sends fork the room's graph, where order is not defined).
 */
export async function conversationScene(suite: Suite, name: string, count: number) {
  const scene = await portalScene(suite, name);
  const { room, xmppUser, matrixUser, roomId } = scene;
  // Each side talks on its own, so that the Matrix side can hold its tongue while the XMPP side goes on.
  const xmppSending = (async () => {
    for (let i = 0; i < count; i++) {
      await xmppUser.send(xml("message", { to: room, type: "groupchat", id: `x${i}` }, xml("body", {}, `x${i}`)));
      await sleep(150);
    }
  })();
  let held: Promise<void> | undefined;
  let release = (): void => undefined;
  let inFlight: Promise<unknown> = Promise.resolve();
  let matrixSent = 0;
  const matrixSending = (async () => {
    for (let i = 0; i < count; i++) {
      await held;
      await (inFlight = matrixUser.sendText(roomId, `m${i}`));
      matrixSent = i + 1;
      await sleep(150);
    }
  })();
  const sending = Promise.all([xmppSending, matrixSending]);
  const talk = {
    /** What reached Matrix, in the room's order. */
    toMatrix: async () => (await matrixUser.history(roomId)).map((e) => e.content.body as string).filter((b) => /^x\d+$/.test(b)),
    /** What reached the XMPP user, in the order received. */
    toXmpp: () => xmppUser.stanzas.filter((s) => s.is("message") && s.attrs.from === `${room}/Max` && /^m\d+$/.test(bodyOf(s) ?? "")).map((s) => bodyOf(s)!),
    /** Every message one side said, in order: "x" for the XMPP user's, "m" for Max's. */
    said: (side: "x" | "m") => Array.from({ length: count }, (_, i) => `${side}${i}`),
    /** Resolves once `n` messages crossed each way. */
    underWay: (n: number) => eventually(async () => (talk.toXmpp().length >= n && (await talk.toMatrix()).length >= n ? true : undefined), "the conversation to be under way both ways", 60_000),
    /**
     * The Matrix side stops talking, until `speakAgain`. Synapse stores what it could not send the bridge
     * and a "recoverer" sends it once the bridge answers; but an event created just as that recovery ends
     * is stored after its last look and before Synapse marks the bridge up, and waits, unsent, for the
     * next failure (docs/reliability.md). That gap is Synapse's; what the bridge holds is what these tests
     * are about, so no Matrix event is created while Synapse recovers.
     */
    holdMatrix: async () => {
      held ??= new Promise((resolve) => (release = resolve));
      await inFlight;
    },
    /** Once Synapse has recovered and sent what it held, the Matrix side talks again. */
    speakAgain: async () => {
      await eventually(() => (!homeserverRecovering() && (matrixSent === 0 || talk.toXmpp().includes(`m${matrixSent - 1}`)) ? true : undefined), "what the homeserver held for the bridge", 90_000);
      held = undefined;
      release();
    },
    /** Resolves once everything was said and the last message of each side arrived, and a moment after, for repeats to show. */
    finished: async () => {
      await sending;
      await eventually(async () => ((await talk.toMatrix()).includes(`x${count - 1}`) ? true : undefined), "every XMPP message on Matrix", 120_000);
      await eventually(() => (talk.toXmpp().includes(`m${count - 1}`) ? true : undefined), "every Matrix message on XMPP", 120_000);
      await sleep(1500);
    },
  };
  return talk;
}

/**
 * A direct chat: an XMPP user writes a first message (id, body and any extra elements) to a new Matrix
 * user's puppet, who accepts the invite and sees it. `features` are what the XMPP client advertises;
 * `prepare` runs once the XMPP user is logged in, before the first message.
 */
export async function directChatScene(suite: Suite, first: { id: string; body: string; extra?: Stanza[] }, features?: string[], prepare?: (xmppUser: XmppTestClient) => Promise<void>) {
  const xmppUser = await XmppTestClient.login(uniqueName("x"), "test-password", features);
  suite.xmppClients.push(xmppUser);
  await prepare?.(xmppUser);
  const matrixUser = await MatrixTestClient.register(uniqueName("m"));
  const puppet = puppetOf(matrixUser.userId);
  await xmppUser.send(xml("message", { to: puppet, type: "chat", id: first.id }, xml("body", {}, first.body), ...(first.extra ?? [])));
  const roomId = await matrixUser.waitForInvite();
  await matrixUser.join(roomId);
  const firstEvent = await matrixUser.waitForEvent((e) => e.room_id === roomId && e.content.body === first.body, "the first DM");
  const fromMatrix = (pred: (s: Stanza) => boolean, what: string) => xmppUser.waitFor((s) => s.is("message") && s.attrs.from?.split("/")[0] === puppet && pred(s), what);
  const fromXmpp = (pred: EventPredicate, what: string) => matrixUser.waitForEvent((e) => e.room_id === roomId && pred(e), what);
  const send = (id: string, ...children: Stanza[]) => xmppUser.send(xml("message", { to: puppet, type: "chat", id }, ...children));
  return { xmppUser, matrixUser, puppet, roomId, firstEvent, fromMatrix, fromXmpp, send };
}
