import { xmppIdOf } from "../../../core/conversations.js";
import { uniqueNicks } from "../../../core/gateway.js";
import { ghostUserId, matrixLocalpart, mucOfPortalAlias, roomRefOfGatewayJid, splitJid } from "../../../core/identity.js";
import { fromMatrixContent, toXmppBody } from "../../../core/messages.js";
import type { HistoryRequest, XmppEventOf } from "../../../core/model.js";
import { renderGatewaySubject, renderJoinError } from "../../../xmpp/gateway-stanzas.js";
import { renderMessage } from "../../../xmpp/stanzas.js";
import { deliver, isPassing } from "../../errors.js";
import type { GatewayParts, Refusal, Roster } from "./rosters.js";

const MAX_HISTORY = 100;

/**
 * XMPP users coming into a gateway room and going. Joining follows XEP-0045 §7.2 to the letter: the
 * other occupants' presence, the joiner's own (status 110), history, then the subject; a join that
 * cannot succeed gets its error and nothing else.
 */
export class GatewayOccupants {
  constructor(private readonly deps: GatewayParts) {}

  /** An occupant's presence to the room: entering it, changing its nick there, or leaving. */
  async presence(event: XmppEventOf<"gateway-presence">): Promise<void> {
    const { room, occupant, nick, available } = event;
    const occupants = await this.deps.store.gatewayOccupants(room);
    if (!available) return this.leave(room, occupant, occupants);
    const current = occupants.get(occupant);
    if (current === nick) return;
    // A nick change is heard from Matrix; an entry is told by the room itself.
    const entering = current === undefined ? `${room}\n${ghostUserId(splitJid(occupant).bare, this.deps.addressing)}` : undefined;
    if (entering) this.deps.rosters.entering.add(entering);
    try {
      await this.enter(event, occupants, current);
    } catch (err) {
      if (isPassing(err)) throw err;
      // Never silence: a join that failed on the way is refused, with the reason in the log.
      this.deps.log.warn({ room, occupant, err }, "a gateway join failed");
      const text = "The Matrix room could not be entered; try again later.";
      await this.deps.rosters.send(renderJoinError(`${room}/${nick}`, occupant, "cancel", "service-unavailable", text));
    } finally {
      if (entering) this.deps.rosters.entering.delete(entering);
    }
  }

  private async enter({ room, occupant, nick, history }: XmppEventOf<"gateway-presence">, occupants: ReadonlyMap<string, string>, current: string | undefined): Promise<void> {
    const refuse = ({ type, condition, text }: Refusal) => this.deps.rosters.send(renderJoinError(`${room}/${nick}`, occupant, type, condition, text));
    const target = await this.roomOf(room);
    if ("refusal" in target) return refuse(target.refusal);
    const { roomId } = target;
    const bare = splitJid(occupant).bare;
    const ghost = ghostUserId(bare, this.deps.addressing);
    const roster = this.deps.rosters.get(room);
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
    this.deps.rosters.set(room, joined);
    await this.deps.store.setGatewayOccupant(room, occupant, nick);
    this.deps.log.info({ room, roomId, occupant }, "an XMPP user joined a Matrix room through the gateway");
    for (const [userId, memberNick] of members) {
      if (userId !== ghost) await this.deps.rosters.send(this.deps.rosters.presenceOf(room, joined, userId, memberNick, occupant));
    }
    await this.deps.rosters.send(this.deps.rosters.presenceOf(room, joined, ghost, nick, occupant, [110]));
    // The others hear the newcomer now; its ghost's join, when it comes back from Matrix, is nothing new.
    if (firstResource) for (const other of occupants.keys()) await this.deps.rosters.send(this.deps.rosters.presenceOf(room, joined, ghost, nick, other));
    await this.sendHistory(room, roomId, ghost, occupant, joined, history);
    await this.deps.rosters.send(renderGatewaySubject(room, occupant, view.topic));
  }

  private async leave(room: string, occupant: string, occupants: ReadonlyMap<string, string>): Promise<void> {
    const nick = occupants.get(occupant);
    if (nick === undefined) return;
    await this.deps.store.setGatewayOccupant(room, occupant, undefined);
    const bare = splitJid(occupant).bare;
    const ghost = ghostUserId(bare, this.deps.addressing);
    const roster = this.deps.rosters.get(room) ?? { nicks: new Map(), levels: {} };
    await this.deps.rosters.send(this.deps.rosters.presenceOf(room, roster, ghost, nick, occupant, [110], { unavailable: true }));
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
      await this.deps.rooms.join(ghost, roomId);
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
      await this.deps.rosters.send(renderMessage({ from, to: occupant, type: "groupchat", id, body: toXmppBody(text), stanzaId: { id, by: room }, delay: { stamp: sentAt, from: room } }));
    }
  }
}
