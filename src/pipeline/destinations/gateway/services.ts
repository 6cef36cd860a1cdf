import { xmppIdOf } from "../../../core/conversations.js";
import { gatewayRoomJid, ghostUserId, matrixLocalpart, roomRefOfGatewayJid, splitJid } from "../../../core/identity.js";
import { fromMatrixContent, toXmppBody } from "../../../core/messages.js";
import type { ArchiveQuery, ArchivedMessage, ModerationRequest } from "../../../xmpp/gateway-stanzas.js";
import type { RoomInfo, RoomList } from "../../../xmpp/service-info.js";
import { deliver, isPassing } from "../../errors.js";
import type { GatewayParts, Refusal } from "./rosters.js";

/** What else a gateway room answers: moderation requests, its archive, self-pings, disco (room info, the room list). */
export class GatewayServices {
  constructor(private readonly deps: GatewayParts) {}

  /**
   * An occupant moderator's kick or ban (XEP-0045 §8.2, §9.1), carried out on Matrix by their ghost: the
   * homeserver refuses what their power level does not allow, and the refusal is the answer.
   */
  async moderate(from: string, room: string, request: ModerationRequest): Promise<Refusal | undefined> {
    const { addressing } = this.deps;
    const occupants = await this.deps.store.gatewayOccupants(room);
    const link = await this.deps.store.linkByMuc(room);
    if (!occupants.has(from) || link?.kind !== "gateway") return { type: "cancel", condition: "not-acceptable", text: "Only occupants may moderate this room." };
    const roster = await this.deps.rosters.load(link, occupants);
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
    const roster = await this.deps.rosters.load(link, occupants);
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
}
