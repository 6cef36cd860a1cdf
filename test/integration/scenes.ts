/**
 * The two settings most integration tests start from, with real users on both sides: a MUC and its
 * portal, and a direct chat an XMPP user opened.
 */
import { xml } from "@xmpp/client";
import { portalAliasOf, stack, uniqueName, type bridgeSuite } from "./harness.js";
import { MatrixTestClient, type ClientEvent } from "./matrix-client.js";
import { XmppTestClient } from "./xmpp-client.js";

export type Stanza = ReturnType<typeof xml>;
type Suite = ReturnType<typeof bridgeSuite>;
type EventPredicate = (e: ClientEvent) => boolean;

export const bodyOf = (s: Stanza): string | null => s.getChildText("body");
export const stanzaIdOf = (s: Stanza, by: string): string | undefined => s.getChildren("stanza-id", "urn:xmpp:sid:0").find((e) => e.attrs.by === by)?.attrs.id;

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
  return { room, xmppUser, matrixUser, roomId, fromMatrix, fromXmpp, say, postImage };
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
  const puppet = `${matrixUser.userId.slice(1).replace(":", "%")}@${stack.componentDomain}`;
  await xmppUser.send(xml("message", { to: puppet, type: "chat", id: first.id }, xml("body", {}, first.body), ...(first.extra ?? [])));
  const roomId = await matrixUser.waitForInvite();
  await matrixUser.join(roomId);
  const firstEvent = await matrixUser.waitForEvent((e) => e.room_id === roomId && e.content.body === first.body, "the first DM");
  const fromMatrix = (pred: (s: Stanza) => boolean, what: string) => xmppUser.waitFor((s) => s.is("message") && s.attrs.from?.split("/")[0] === puppet && pred(s), what);
  const fromXmpp = (pred: EventPredicate, what: string) => matrixUser.waitForEvent((e) => e.room_id === roomId && pred(e), what);
  const send = (id: string, ...children: Stanza[]) => xmppUser.send(xml("message", { to: puppet, type: "chat", id }, ...children));
  return { xmppUser, matrixUser, puppet, roomId, firstEvent, fromMatrix, fromXmpp, send };
}
