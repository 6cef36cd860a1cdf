import type { Element } from "@xmpp/xml";
import { pino } from "pino";
import type { AddressingConfig } from "../../src/core/identity.js";
import type { MatrixRooms } from "../../src/matrix/rooms.js";
import type { CapabilityDeps } from "../../src/pipeline/capabilities/capability.js";
import type { MatrixDestination } from "../../src/pipeline/destinations/matrix-destination.js";
import { GatewayDestinations } from "../../src/pipeline/destinations/gateway/destination.js";
import { GatewayMembers } from "../../src/pipeline/destinations/gateway/members.js";
import { GatewayRosters } from "../../src/pipeline/destinations/gateway/rosters.js";
import { Ghosts } from "../../src/pipeline/destinations/ghosts.js";
import { Puppets } from "../../src/pipeline/destinations/puppets.js";
import type { XmppDestination } from "../../src/pipeline/destinations/xmpp-destination.js";
import { XmppDestinations } from "../../src/pipeline/destinations/xmpp-destinations.js";
import type { ComponentConnection } from "../../src/xmpp/component-connection.js";
import type { MucOccupancy } from "../../src/xmpp/muc-occupancy.js";
import { dmConversation } from "../../src/core/conversations.js";
import { MemoryStore } from "./memory-store.js";

export const addressing: AddressingConfig = { homeserverDomain: "matrix.test", componentDomain: "matrix.xmpp.test", userPrefix: "_xmpp_", aliasPrefix: "_xmpp_" };
export const botUserId = "@bot:matrix.test";
/** Alice on Matrix shares a DM with Bob on XMPP (as his ghost); a portal is linked to a MUC. */
export const alice = "@alice:matrix.test";
export const bob = "bob@xmpp.test";
export const bobsGhost = "@_xmpp_bob=40xmpp.test:matrix.test";
export const dmRoom = "!dm:matrix.test";
export const dm = dmConversation(bob, alice);
export const portalRoom = "!portal:matrix.test";
export const muc = "room@conference.xmpp.test";

/** Where the MUC's doings go on Matrix: the portal. */
export const fromMuc: MatrixDestination = { link: { kind: "portal", roomId: portalRoom, muc }, roomId: portalRoom, conversation: muc };

/** What the fake Matrix side was asked to do. */
export interface MatrixCalls {
  sent: { sender: string; roomId: string; content: Record<string, unknown>; type: string }[];
  redacted: { sender: string; eventId: string; reason?: string }[];
  receipts: { sender: string; eventId: string }[];
  typing: { sender: string; typing: boolean }[];
  notices: string[];
  /** The event each notice replies to, if any, in the order of `notices`. */
  noticeReplies: (string | undefined)[];
  kicked: { roomId: string; userId: string; reason: string }[];
  /** Ghost joins, leaves and room nicks, in order. */
  members: string[];
  topics: string[];
}

/**
 * The dependencies of a capability, with both sides faked: Matrix records what it was asked to do,
 * XMPP the stanzas sent (and answers requests with `answer`), the store in memory with the DM and the
 * portal linked. Puppets in `inMuc` are in the MUC already.
 */
export async function capabilityDeps(
  options: { inMuc?: string[]; occupants?: { nick: string; occupantKey: string; realJid?: string }[]; messageText?: Record<string, string>; answer?: (stanza: Element) => Promise<void> } = {},
) {
  const store = new MemoryStore();
  await store.saveLink({ kind: "dm", roomId: dmRoom, matrixUser: alice, xmppUser: bob });
  await store.saveLink({ kind: "portal", roomId: portalRoom, muc });
  const stanzas: Element[] = [];
  const matrix: MatrixCalls = { sent: [], redacted: [], receipts: [], typing: [], notices: [], noticeReplies: [], kicked: [], members: [], topics: [] };
  let next = 0;
  const rooms = {
    send: async (sender: string, roomId: string, content: Record<string, unknown>, _txnId: string, type = "m.room.message") => {
      matrix.sent.push({ sender, roomId, content, type });
      return `$m${++next}`;
    },
    redact: async (sender: string, _roomId: string, eventId: string, reason?: string) => void matrix.redacted.push({ sender, eventId, ...(reason ? { reason } : {}) }),
    readReceipt: async (sender: string, _roomId: string, eventId: string) => void matrix.receipts.push({ sender, eventId }),
    typing: async (sender: string, _roomId: string, typing: boolean) => void matrix.typing.push({ sender, typing }),
    notice: async (_roomId: string, text: string, replyTo?: string) => void (matrix.notices.push(text), matrix.noticeReplies.push(replyTo)),
    kick: async (roomId: string, userId: string, reason: string) => void matrix.kicked.push({ roomId, userId, reason }),
    messageText: async (_roomId: string, eventId: string) => options.messageText?.[eventId],
    event: async () => undefined,
    setTopic: async (_roomId: string, topic: string) => void matrix.topics.push(topic),
    ensureGhost: async () => undefined,
    ensureJoined: async (userId: string) => void matrix.members.push(`join ${userId}`),
    leave: async (userId: string) => void matrix.members.push(`leave ${userId}`),
    setRoomNick: async (userId: string, _roomId: string, nick: string) => void matrix.members.push(`nick ${userId} ${nick}`),
    displayName: async () => undefined,
  } as unknown as MatrixRooms;
  const connection = {
    send: async (stanza: Element) => void stanzas.push(stanza),
    request: async (stanza: Element) => {
      stanzas.push(stanza);
      await options.answer?.(stanza);
    },
  } as unknown as ComponentConnection;
  const inMuc = new Set(options.inMuc ?? []);
  const occupancy = {
    nickOf: (_muc: string, user: string) => (inMuc.has(user) ? user.slice(1).split(":")[0] : undefined),
    join: async (_muc: string, user: string, nick: string) => (inMuc.add(user), nick),
    leave: async (_muc: string, user: string) => void inMuc.delete(user),
    occupants: () => (options.occupants ?? []).map((o) => ({ muc, ...o })),
  } as unknown as MucOccupancy;
  const log = pino({ level: "silent" });
  const puppets = new Puppets({ rooms, occupancy, unreachableRetryMs: 300_000, log });
  const deps: CapabilityDeps = { store, rooms, connection, addressing, botUserId, messageMapSeconds: 3600, log };
  const ghosts = new Ghosts({ rooms, firstSight: async () => undefined, self: addressing.componentDomain });
  const settings = { enabled: true, allowServers: [], denyRooms: [], joinById: true, historyMessages: 20 };
  const gatewayParts = { store, rooms, connection, ghosts, addressing, settings, messageMapSeconds: 3600, log, rosters: new GatewayRosters({ rooms, connection, addressing }) };
  const gateway = new GatewayMembers(gatewayParts);
  const destinations = new XmppDestinations({ store, connection, puppets, gateway: new GatewayDestinations(gatewayParts), addressing, botUserId });
  /** Where the DM's or the portal's doings go on XMPP. */
  const at = (roomId: string): XmppDestination =>
    destinations.ofLink(roomId === dmRoom ? { kind: "dm", roomId, matrixUser: alice, xmppUser: bob } : { kind: "portal", roomId: portalRoom, muc });
  return { deps, store, stanzas, matrix, occupancy, puppets, ghosts, gateway, at };
}
