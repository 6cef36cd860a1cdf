/**
 * The two settings most integration tests start from, with real users on both sides: a MUC and its
 * portal, and a direct chat an XMPP user opened.
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { xml } from "@xmpp/client";
import { baseConfig, eventually, portalAliasOf, stack, uniqueName, type bridgeSuite } from "./harness.js";
import { MatrixTestClient, type ClientEvent } from "./matrix-client.js";
import { XmppTestClient } from "./xmpp-client.js";

export type Stanza = ReturnType<typeof xml>;
type Suite = ReturnType<typeof bridgeSuite>;
type EventPredicate = (e: ClientEvent) => boolean;

export const bodyOf = (s: Stanza): string | null => s.getChildText("body");
export const stanzaIdOf = (s: Stanza, by: string): string | undefined => s.getChildren("stanza-id", "urn:xmpp:sid:0").find((e) => e.attrs.by === by)?.attrs.id;

/** A Matrix user's puppet: `localpart%server@component`. */
export const puppetOf = (userId: string): string => `${userId.slice(1).replace(":", "%")}@${stack.componentDomain}`;

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

/** A MUC where the XMPP user "xena" talks with the Matrix user "Max", who joined its portal. */
export async function portalScene(suite: Suite, name: string) {
  const room = `${uniqueName(name)}@${stack.mucDomain}`;
  const xmppUser = await XmppTestClient.login(uniqueName("x"));
  suite.xmppClients.push(xmppUser);
  await xmppUser.send(xml("presence", { to: `${room}/xena` }, xml("x", { xmlns: "http://jabber.org/protocol/muc" })));
  await xmppUser.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/xena`, "self-presence");
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
