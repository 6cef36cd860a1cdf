import { createHash } from "node:crypto";
import type { Element } from "@xmpp/xml";
import type { BridgeConfig } from "../../config/schema.js";
import { BoundedMap } from "../../core/bounded-map.js";
import { xmppIdOf } from "../../core/conversations.js";
import { occupantStanding, uniqueNicks, type PowerLevels } from "../../core/gateway.js";
import { gatewayRoomJid, ghostUserId, isGhost, jidOfGhost, matrixLocalpart, mucOfPortalAlias, roomRefOfGatewayJid, splitJid, type AddressingConfig } from "../../core/identity.js";
import { fromMatrixContent, toXmppBody } from "../../core/messages.js";
import type { HistoryRequest, Link, MatrixInboundOf, XmppEventOf, XmppInboundMessage } from "../../core/model.js";
import type { Logger } from "../../log.js";
import type { MatrixRooms } from "../../matrix/rooms.js";
import type { BridgeStore } from "../../store/store.js";
import type { ComponentConnection } from "../../xmpp/component-connection.js";
import { type ArchiveQuery, type ArchivedMessage, type ModerationRequest, renderDirectInvitation, renderGatewaySubject, renderJoinError, renderMediatedInvitation, renderOccupantPresence } from "../../xmpp/gateway-stanzas.js";
import { puppetAddress } from "../../xmpp/puppet-address.js";
import type { RoomInfo, RoomList } from "../../xmpp/service-info.js";
import { renderMessage, renderSignal, renderStanzaError } from "../../xmpp/stanzas.js";
import { deliver, isPassing } from "../errors.js";
import type { Ghosts } from "./ghosts.js";
import type { MatrixDestination } from "./matrix-destination.js";
import type { XmppDestination } from "./xmpp-destination.js";

export type GatewayLink = Extract<Link, { kind: "gateway" }>;

/** Gateway rooms whose members are kept in memory; the least recently used are read again when needed. */
const MAX_ROSTERS = 1_000;
const MAX_HISTORY = 100;

/** The Matrix members of a gateway room as its occupants: each one's nick, and the power levels that make their standing. */
interface Roster {
  nicks: Map<string, string>;
  levels: PowerLevels;
}

export type Refusal = { type: "cancel" | "auth"; condition: string; text: string };

export interface GatewayDeps {
  store: BridgeStore;
  rooms: MatrixRooms;
  connection: ComponentConnection;
  ghosts: Ghosts;
  addressing: AddressingConfig;
  settings: BridgeConfig["gateway"];
  messageMapSeconds: number;
  log: Logger;
}

/** XEP-0421: one stable, opaque id per Matrix user in a room, the same for every occupant who asks. */
const occupantIdOf = (room: string, userId: string): string => createHash("sha256").update(`${room}\n${userId}`).digest("base64url").slice(0, 22);

/**
 * Gateway rooms: Matrix rooms offered to XMPP users as MUCs on the component domain (XEP-0045, the
 * bridge acting as the MUC service). An XMPP user's resources are occupants; their ghost is the Matrix
 * member. Joining follows §7.2 to the letter: the other occupants' presence, the joiner's own (status
 * 110), history, then the subject; a join that cannot succeed gets its error and nothing else. What
 * Matrix members do reaches the occupants through this room's destination; what occupants say goes to
 * Matrix as their ghost, and comes back to the others from Matrix, in Matrix's order, with the room's
 * stanza-id (the event's).
 */
export class GatewayRooms {
  private readonly rosters = new BoundedMap<string, Roster>(MAX_ROSTERS);
  /** Ghosts on their way into a room ("room\nghost"): their member events coming back from Matrix meanwhile are no news. */
  private readonly entering = new Set<string>();

  constructor(private readonly deps: GatewayDeps) {}

  /** An occupant's presence to the room: entering it, changing its nick there, or leaving. */
  async presence(event: XmppEventOf<"gateway-presence">): Promise<void> {
    const { room, occupant, nick, available } = event;
    const occupants = await this.deps.store.gatewayOccupants(room);
    if (!available) return this.leave(room, occupant, occupants);
    const current = occupants.get(occupant);
    if (current === nick) return;
    // A nick change is heard from Matrix; an entry is told by the room itself.
    const entering = current === undefined ? `${room}\n${ghostUserId(splitJid(occupant).bare, this.deps.addressing)}` : undefined;
    if (entering) this.entering.add(entering);
    try {
      await this.enter(event, occupants, current);
    } finally {
      if (entering) this.entering.delete(entering);
    }
  }

  private async enter({ room, occupant, nick, history }: XmppEventOf<"gateway-presence">, occupants: ReadonlyMap<string, string>, current: string | undefined): Promise<void> {
    const refuse = ({ type, condition, text }: Refusal) => this.send(renderJoinError(`${room}/${nick}`, occupant, type, condition, text));
    const target = await this.roomOf(room);
    if ("refusal" in target) return refuse(target.refusal);
    const { roomId } = target;
    const bare = splitJid(occupant).bare;
    const ghost = ghostUserId(bare, this.deps.addressing);
    const roster = this.rosters.get(room);
    if (roster && [...roster.nicks].some(([userId, taken]) => taken === nick && userId !== ghost)) {
      return refuse({ type: "cancel", condition: "conflict", text: `Someone in the room is called ${nick} already: choose another nick.` });
    }
    if (current !== undefined) {
      await this.deps.store.setGatewayOccupant(room, occupant, nick);
      // The room nick's change comes back from Matrix as a member event: everyone hears it then (status 303).
      await deliver("room nick", () => this.deps.rooms.setRoomNick(ghost, roomId, nick));
      return;
    }
    const firstResource = ![...occupants.keys()].some((o) => splitJid(o).bare === bare);
    if (firstResource) {
      await this.deps.ghosts.introduce(ghost, bare, undefined);
      const refusal = await this.joinMatrixRoom(ghost, roomId);
      if (refusal) return refuse(refusal);
    }
    const view = await deliver("room members", () => this.deps.rooms.roomView(roomId, ghost));
    view.members.delete(ghost);
    const members = uniqueNicks(view.members);
    if ([...members.values()].includes(nick)) {
      if (firstResource) await deliver("ghost leave", () => this.deps.rooms.leave(ghost, roomId));
      return refuse({ type: "cancel", condition: "conflict", text: `Someone in the room is called ${nick} already: choose another nick.` });
    }
    if (!(await this.deps.store.linkByRoom(roomId))) await this.deps.store.saveLink({ kind: "gateway", roomId, muc: room });
    await deliver("room nick", () => this.deps.rooms.setRoomNick(ghost, roomId, nick));
    members.set(ghost, nick);
    const joined: Roster = { nicks: members, levels: view.levels };
    this.rosters.set(room, joined);
    await this.deps.store.setGatewayOccupant(room, occupant, nick);
    this.deps.log.info({ room, roomId, occupant }, "an XMPP user joined a Matrix room through the gateway");
    for (const [userId, memberNick] of members) {
      if (userId !== ghost) await this.send(this.presenceOf(room, joined, userId, memberNick, occupant));
    }
    await this.send(this.presenceOf(room, joined, ghost, nick, occupant, [110]));
    // The others hear the newcomer now; its ghost's join, when it comes back from Matrix, is nothing new.
    if (firstResource) for (const other of occupants.keys()) await this.send(this.presenceOf(room, joined, ghost, nick, other));
    await this.sendHistory(room, roomId, ghost, occupant, joined, history);
    await this.send(renderGatewaySubject(room, occupant, view.topic));
  }

  /** Takes a groupchat message from someone who is not in the room: XEP-0045 §7.4 refuses it. */
  async refuseStrangers({ message }: XmppEventOf<"message">, destination: MatrixDestination | undefined): Promise<boolean> {
    if (message.conversation.kind !== "gateway") return false;
    const { room, occupant } = message.conversation;
    if (destination && (await this.deps.store.gatewayOccupants(room)).has(occupant)) return false;
    const text = "Only occupants may send messages to this room: join it first.";
    await this.send(renderStanzaError("message", room, occupant, message.ids.id, "modify", "not-acceptable", text));
    return true;
  }

  /**
   * An occupant's message is on Matrix: its own resources get it back (§7.2.14) with the stanza-id
   * the room gave it, which is its event's; everyone else gets it from Matrix.
   */
  async reflect({ message }: XmppEventOf<"message">, destination: MatrixDestination): Promise<void> {
    if (message.conversation.kind !== "gateway") return;
    const { room, xmppUser, occupant } = message.conversation;
    const sent = message.ids.originId ?? message.ids.id;
    const eventId = sent ? await this.deps.store.eventIdForXmppId(room, sent) : undefined;
    const entry = eventId ? await this.deps.store.messageByEventId(eventId) : undefined;
    if (!eventId || !entry || !sent) return;
    const stanzaId = xmppIdOf(eventId);
    await this.deps.store.recordMessage({ ...entry, ids: { ...entry.ids, stanzaId } }, this.deps.messageMapSeconds);
    const occupants = await this.deps.store.gatewayOccupants(room);
    const from = `${room}/${occupants.get(occupant) ?? splitJid(occupant).resource ?? xmppUser}`;
    for (const resource of [...occupants.keys()].filter((o) => splitJid(o).bare === xmppUser)) {
      const reflection = renderMessage({
        from,
        to: resource,
        type: "groupchat",
        id: sent,
        body: reflectedBody(message),
        ...(message.replaces ? { replaces: { id: message.replaces } } : {}),
        stanzaId: { id: stanzaId, by: room },
      });
      await this.send(reflection);
    }
    this.deps.log.debug({ room, eventId, roomId: destination.roomId }, "message reflected to its sender");
  }

  /** A Matrix member joined, changed their name, left or was removed: the occupants see it as presence. */
  async memberChanged({ sender, target, membership, displayName }: MatrixInboundOf<"membership">, link: GatewayLink): Promise<void> {
    const room = link.muc;
    const occupants = await this.deps.store.gatewayOccupants(room);
    if (occupants.size === 0) return;
    const roster = await this.roster(link, occupants);
    if (!roster || this.entering.has(`${room}\n${target}`)) return;
    const before = roster.nicks.get(target);
    const ownResources = (occupant: string) => isGhost(target, this.deps.addressing) && jidOfGhost(target, this.deps.addressing) === splitJid(occupant).bare;
    if (membership === "join") {
      // An occupant's nick is the one it chose on XMPP, whatever name its ghost has on the way to it.
      const chosen = [...occupants].find(([occupant]) => ownResources(occupant))?.[1];
      const wanted = chosen ?? (displayName?.trim() || matrixLocalpart(target));
      const nick = [...roster.nicks].some(([userId, taken]) => taken === wanted && userId !== target) ? `${wanted} (${matrixLocalpart(target)})` : wanted;
      if (before === nick) return;
      roster.nicks.set(target, nick);
      for (const occupant of occupants.keys()) {
        const self = ownResources(occupant);
        // A joiner heard its own entry when it joined.
        if (before === undefined && self) continue;
        const statuses = self ? [110] : [];
        if (before !== undefined) await this.send(this.presenceOf(room, roster, target, before, occupant, [...statuses, 303], { unavailable: true, newNick: nick }));
        await this.send(this.presenceOf(room, roster, target, nick, occupant, statuses));
      }
      return;
    }
    if (membership !== "leave" && membership !== "ban") return;
    if (before === undefined) return;
    roster.nicks.delete(target);
    const removal = sender !== target ? [membership === "ban" ? 301 : 307] : [];
    for (const occupant of occupants.keys()) {
      const self = ownResources(occupant);
      // An occupant who left was told so already; one removed on Matrix learns it now, and is out.
      if (self && removal.length === 0) continue;
      await this.send(this.presenceOf(room, roster, target, before, occupant, self ? [110, ...removal] : removal, { unavailable: true }));
      if (self) await this.deps.store.setGatewayOccupant(room, occupant, undefined);
    }
  }

  /**
   * A Matrix user invited an XMPP user's ghost into a room: the XMPP user gets a direct invitation
   * (XEP-0249) from the inviter's puppet and a mediated one (XEP-0045 §7.8.2) from the room. The ghost
   * stays invited, so the room lets it in when its user comes. False when the gateway is off.
   */
  async invite(roomId: string, inviter: string, xmppUser: string, reason: string | undefined): Promise<boolean> {
    const { settings, addressing } = this.deps;
    if (!settings.enabled || !settings.joinById) return false;
    const room = gatewayRoomJid(roomId, addressing);
    const from = puppetAddress(inviter, addressing);
    await this.send(renderDirectInvitation(from, xmppUser, room, reason));
    await this.send(renderMediatedInvitation(room, xmppUser, from, reason));
    this.deps.log.info({ roomId, room, inviter, xmppUser }, "invited an XMPP user to a gateway room");
    return true;
  }

  /**
   * An occupant moderator's kick or ban (XEP-0045 §8.2, §9.1), carried out on Matrix by their ghost: the
   * homeserver refuses what their power level does not allow, and the refusal is the answer.
   */
  async moderate(from: string, room: string, request: ModerationRequest): Promise<Refusal | undefined> {
    const { addressing } = this.deps;
    const occupants = await this.deps.store.gatewayOccupants(room);
    const link = await this.deps.store.linkByMuc(room);
    if (!occupants.has(from) || link?.kind !== "gateway") return { type: "cancel", condition: "not-acceptable", text: "Only occupants may moderate this room." };
    const roster = await this.roster(link, occupants);
    const target = request.nick !== undefined ? [...(roster?.nicks ?? [])].find(([, nick]) => nick === request.nick)?.[0] : request.jid ? ghostUserId(splitJid(request.jid).bare, addressing) : undefined;
    if (!target) return { type: "cancel", condition: "item-not-found", text: "No such occupant." };
    const moderator = ghostUserId(splitJid(from).bare, addressing);
    try {
      await deliver("moderation", () => this.deps.rooms.removeMember(moderator, link.roomId, target, request.action, request.reason ?? `${request.action === "ban" ? "Banned" : "Kicked"} on XMPP`));
      this.deps.log.info({ room, moderator, target, action: request.action }, "an XMPP moderator removed a member of a gateway room");
      return undefined;
    } catch (err) {
      if (isPassing(err)) throw err;
      return { type: "auth", condition: "forbidden", text: "Your power level in the Matrix room does not allow that." };
    }
  }

  /**
   * A page of the room's archive (XEP-0313) for an occupant, from Matrix history as its ghost sees it:
   * messages only, each as the room showed it, by the stanza-id the room gave it (its event's).
   */
  async archive(from: string, room: string, query: ArchiveQuery): Promise<{ messages: ArchivedMessage[]; complete: boolean } | Refusal> {
    const occupants = await this.deps.store.gatewayOccupants(room);
    const link = await this.deps.store.linkByMuc(room);
    if (![...occupants.keys()].some((o) => splitJid(o).bare === splitJid(from).bare) || link?.kind !== "gateway") {
      return { type: "auth", condition: "forbidden", text: "Only occupants may read this room's archive." };
    }
    const viewer = ghostUserId(splitJid(from).bare, this.deps.addressing);
    const roster = await this.roster(link, occupants);
    const eventOf = (id: string | undefined) => (id ? `$${id}` : undefined);
    const anchor = { ...(query.after ? { after: eventOf(query.after) } : {}), ...(query.before ? { before: eventOf(query.before) } : {}) };
    const page = await deliver("room archive", () => this.deps.rooms.messagesAround(link.roomId, viewer, anchor, query.max));
    const messages = page.messages.flatMap(({ event, sentAt }) => {
      const text = fromMatrixContent(event.message);
      if (!text || event.message.edit) return [];
      return [{ id: xmppIdOf(event.eventId), from: `${room}/${roster?.nicks.get(event.sender) ?? matrixLocalpart(event.sender)}`, body: toXmppBody(text), sentAt }];
    });
    return { messages, complete: page.complete };
  }

  /** Whether the resource is in the room under the nick `roomAndNick` names (XEP-0410 self-ping). */
  async isOccupant(occupant: string, roomAndNick: string): Promise<boolean> {
    const { bare, resource } = splitJid(roomAndNick);
    return (await this.deps.store.gatewayOccupants(bare)).get(occupant) === resource;
  }

  /** What the room tells anyone asking: its name, topic and member count, where the homeserver lets it be previewed. */
  async describe(room: string): Promise<RoomInfo | undefined> {
    const ref = roomRefOfGatewayJid(room, this.deps.addressing);
    if (!ref || !this.deps.settings.enabled) return undefined;
    const roomId = ref.kind === "id" ? ref.roomId : await this.deps.rooms.resolveAlias(ref.alias).catch(() => undefined);
    const summary = roomId ? await this.deps.rooms.summary(roomId) : undefined;
    if (!summary) return undefined;
    return { occupants: summary.members, open: summary.open, ...(summary.name ? { name: summary.name } : {}), ...(summary.topic ? { description: summary.topic } : {}) };
  }

  /** The homeserver's public rooms as gateway rooms (disco#items on the component, XEP-0059 pages). */
  async publicRooms(max: number, after: string | undefined): Promise<RoomList> {
    const page = await this.deps.rooms.publicRooms(max, after);
    const rooms = page.rooms.flatMap(({ roomId, alias, name }) => {
      const ref = alias ?? (this.deps.settings.joinById ? roomId : undefined);
      return ref ? [{ jid: gatewayRoomJid(ref, this.deps.addressing), ...(name ? { name } : {}) }] : [];
    });
    return { rooms, ...(page.next ? { next: page.next } : {}), ...(page.total !== undefined ? { count: page.total } : {}) };
  }

  /** New power levels change members' affiliations and roles (§9, §10): each change is told as presence. */
  async powerLevelsChanged({ levels }: MatrixInboundOf<"power-levels">, destination: XmppDestination): Promise<void> {
    if (destination.link.kind !== "gateway") return;
    const room = destination.link.muc;
    const occupants = await this.deps.store.gatewayOccupants(room);
    const roster = await this.roster(destination.link, occupants);
    if (!roster) return;
    const before = roster.levels;
    roster.levels = levels;
    for (const [userId, nick] of roster.nicks) {
      const [was, is] = [occupantStanding(userId, before), occupantStanding(userId, levels)];
      if (was.affiliation === is.affiliation && was.role === is.role) continue;
      const own = isGhost(userId, this.deps.addressing) ? jidOfGhost(userId, this.deps.addressing) : undefined;
      for (const occupant of occupants.keys()) await this.send(this.presenceOf(room, roster, userId, nick, occupant, splitJid(occupant).bare === own ? [110] : []));
    }
  }

  /** A new topic is the room's subject, told to every occupant (§8.1). */
  async roomStateChanged({ sender, field, value }: MatrixInboundOf<"room-state">, destination: XmppDestination): Promise<boolean> {
    if (destination.link.kind !== "gateway") return false;
    if (field !== "topic") return true;
    const from = destination.addressOf(sender);
    for (const occupant of (await this.deps.store.gatewayOccupants(destination.link.muc)).keys()) await this.send(renderGatewaySubject(from, occupant, value));
    return true;
  }

  /** Where a gateway room's Matrix doings go: to every occupant but the sender's own resources, from the sender's nick. */
  destination(link: GatewayLink): XmppDestination {
    const room = link.muc;
    const roster = this.rosters.get(room);
    const addressOf = (matrixUser: string) => `${room}/${roster?.nicks.get(matrixUser) ?? matrixLocalpart(matrixUser)}`;
    const fanOut = async (sender: string, render: (to: string) => Element): Promise<void> => {
      const own = isGhost(sender, this.deps.addressing) ? jidOfGhost(sender, this.deps.addressing) : undefined;
      for (const occupant of (await this.deps.store.gatewayOccupants(room)).keys()) {
        if (splitJid(occupant).bare !== own) await this.send(render(occupant));
      }
    };
    const someGhost = [...(roster?.nicks.keys() ?? [])].find((u) => isGhost(u, this.deps.addressing));
    // What XMPP clients know a message by in the room is the stanza-id it gave (the event's), and, for a
    // message from Matrix, its id, which is the same.
    const refOf = (ids: { id?: string; originId?: string; stanzaId?: string }) => ids.stanzaId ?? ids.originId ?? ids.id;
    return {
      link,
      roomId: link.roomId,
      muc: undefined,
      conversation: room,
      viewer: someGhost ?? link.roomId,
      refOf,
      correctionRefOf: refOf,
      isIn: () => true,
      ready: async () => true,
      addressOf,
      send: (sender, message, what = "send to XMPP") =>
        deliver(what, () => fanOut(sender, (to) => renderMessage({ ...message, from: addressOf(sender), to, type: "groupchat", stanzaId: { id: message.id, by: room } }))),
      signal: (sender, signal, what) => deliver(what, () => fanOut(sender, (to) => renderSignal({ ...signal, from: addressOf(sender), to, type: "groupchat" }))),
    };
  }

  /** Reads the room's members again when they are not in memory (after a restart, or when evicted). */
  async prepare(link: GatewayLink): Promise<void> {
    if (this.rosters.has(link.muc)) return;
    await this.roster(link, await this.deps.store.gatewayOccupants(link.muc));
  }

  private async roster(link: GatewayLink, occupants: ReadonlyMap<string, string>): Promise<Roster | undefined> {
    const known = this.rosters.get(link.muc);
    if (known) return known;
    const viewer = [...occupants.keys()].map((o) => ghostUserId(splitJid(o).bare, this.deps.addressing))[0];
    if (!viewer) return undefined;
    const view = await deliver("room members", () => this.deps.rooms.roomView(link.roomId, viewer));
    const roster: Roster = { nicks: uniqueNicks(view.members), levels: view.levels };
    // Occupants keep the nick they chose.
    for (const [occupant, nick] of occupants) roster.nicks.set(ghostUserId(splitJid(occupant).bare, this.deps.addressing), nick);
    this.rosters.set(link.muc, roster);
    return roster;
  }

  private async leave(room: string, occupant: string, occupants: ReadonlyMap<string, string>): Promise<void> {
    const nick = occupants.get(occupant);
    if (nick === undefined) return;
    await this.deps.store.setGatewayOccupant(room, occupant, undefined);
    const bare = splitJid(occupant).bare;
    const ghost = ghostUserId(bare, this.deps.addressing);
    const roster = this.rosters.get(room) ?? { nicks: new Map(), levels: {} };
    await this.send(this.presenceOf(room, roster, ghost, nick, occupant, [110], { unavailable: true }));
    if ([...occupants.keys()].some((o) => o !== occupant && splitJid(o).bare === bare)) return;
    // The last resource left: so does the ghost, and the other occupants hear it from Matrix.
    const link = await this.deps.store.linkByMuc(room);
    if (link) await deliver("ghost leave", () => this.deps.rooms.leave(ghost, link.roomId));
    this.deps.log.info({ room, occupant }, "an XMPP user left a Matrix room through the gateway");
  }

  /** The Matrix room a gateway room's JID names, if XMPP users may join it here; else why not. */
  private async roomOf(room: string): Promise<{ roomId: string } | { refusal: Refusal }> {
    const { settings, addressing } = this.deps;
    const notAllowed = (text: string) => ({ refusal: { type: "cancel", condition: "not-allowed", text } as Refusal });
    const ref = roomRefOfGatewayJid(room, addressing);
    if (!ref) return { refusal: { type: "cancel", condition: "item-not-found", text: "No such room." } };
    if (!settings.enabled) return notAllowed("This bridge does not let XMPP users join Matrix rooms.");
    const name = ref.kind === "alias" ? ref.alias : ref.roomId;
    const server = name.slice(name.indexOf(":") + 1);
    const servers = settings.allowServers.length > 0 ? settings.allowServers : [addressing.homeserverDomain];
    if (!servers.includes("*") && !servers.includes(server)) return notAllowed(`Rooms on ${server} may not be joined through this bridge.`);
    if (settings.denyRooms.includes(name)) return notAllowed(`${name} may not be joined through this bridge.`);
    if (ref.kind === "id" && !settings.joinById) return notAllowed("Join this room by one of its aliases, not by its ID.");
    const portalOf = ref.kind === "alias" ? mucOfPortalAlias(ref.alias, addressing) : undefined;
    if (portalOf) return notAllowed(`${name} is this bridge's portal to the XMPP room ${portalOf}: join that room itself.`);
    const roomId = ref.kind === "id" ? ref.roomId : await deliver("alias lookup", () => this.deps.rooms.resolveAlias(name));
    if (!roomId) return { refusal: { type: "cancel", condition: "item-not-found", text: `No Matrix room has the alias ${name}.` } };
    const link = await this.deps.store.linkByRoom(roomId);
    if (link && link.kind !== "gateway") return notAllowed(link.kind === "dm" ? "This Matrix room is a direct chat." : `This Matrix room is bridged to the XMPP room ${link.muc}: join that room itself.`);
    if (link && link.muc !== room) return notAllowed(`This Matrix room is open to XMPP users as ${link.muc}: join it there.`);
    return { roomId };
  }

  /** The ghost joins the Matrix room; a refusal is the join's XEP-0045 error. */
  private async joinMatrixRoom(ghost: string, roomId: string): Promise<Refusal | undefined> {
    try {
      await this.deps.rooms.ensureJoined(ghost, roomId);
      return undefined;
    } catch (err) {
      if (isPassing(err)) throw err;
      const reason = (err as { body?: { error?: string } }).body?.error ?? "";
      this.deps.log.info({ ghost, roomId, reason }, "a gateway join was refused on Matrix");
      if (/\bbanned\b/i.test(reason)) return { type: "auth", condition: "forbidden", text: "You are banned from this room." };
      return { type: "auth", condition: "registration-required", text: "This room is not open to you: ask a member for an invitation." };
    }
  }

  /** The room's latest messages, as much as the joiner asked for (§7.2.15), each with its time and the room's stanza-id. */
  private async sendHistory(room: string, roomId: string, ghost: string, occupant: string, roster: Roster, history: HistoryRequest | undefined): Promise<void> {
    const wanted = Math.min(history?.maxstanzas ?? this.deps.settings.historyMessages, MAX_HISTORY);
    if (wanted === 0 || history?.maxchars === 0) return;
    const since = history?.since ?? (history?.seconds !== undefined ? Date.now() - history.seconds * 1000 : undefined);
    const { messages } = await deliver("room history", () => this.deps.rooms.messagesAround(roomId, ghost, {}, wanted));
    for (const { event, sentAt } of messages) {
      const text = fromMatrixContent(event.message);
      if (!text || (since !== undefined && sentAt < since) || event.message.edit) continue;
      const id = xmppIdOf(event.eventId);
      const from = `${room}/${roster.nicks.get(event.sender) ?? matrixLocalpart(event.sender)}`;
      await this.send(renderMessage({ from, to: occupant, type: "groupchat", id, body: toXmppBody(text), stanzaId: { id, by: room }, delay: { stamp: sentAt, from: room } }));
    }
  }

  private presenceOf(room: string, roster: Roster, userId: string, nick: string, to: string, statuses: number[] = [], extra: { unavailable?: boolean; newNick?: string } = {}): Element {
    return renderOccupantPresence({ from: `${room}/${nick}`, to, ...occupantStanding(userId, roster.levels), occupantId: occupantIdOf(room, userId), statuses, ...extra });
  }

  private send(stanza: Element): Promise<void> {
    return deliver("gateway stanza", () => this.deps.connection.send(stanza));
  }
}

/** The text an occupant sent, as the room reflects it: a reply's quote and a file's link included. */
function reflectedBody(message: XmppInboundMessage): string {
  const text = `${message.replyTo?.quote ?? ""}${message.emote ? "/me " : ""}${message.body}`;
  return text !== "" ? text : (message.files ?? []).map((f) => f.url).join("\n");
}
