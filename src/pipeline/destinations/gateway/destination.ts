import type { Element } from "@xmpp/xml";
import { xmppIdOf } from "../../../core/conversations.js";
import { isGhost, jidOfGhost, matrixLocalpart, splitJid } from "../../../core/identity.js";
import type { XmppEventOf, XmppInboundMessage } from "../../../core/model.js";
import { renderMessage, renderSignal, renderStanzaError } from "../../../xmpp/stanzas.js";
import { deliver } from "../../errors.js";
import type { MatrixDestination } from "../matrix-destination.js";
import type { XmppDestination } from "../xmpp-destination.js";
import type { GatewayLink, GatewayParts } from "./rosters.js";
import type { Trail } from "../../../core/trail.js";

/**
 * Where a gateway room's Matrix doings go: to every occupant but the sender's own resources, from the
 * sender's nick, with the room's stanza-id (the event's). What occupants say goes to Matrix as their
 * ghost and comes back to the others from Matrix, in Matrix's order; to its sender at once.
 */
export class GatewayDestinations {
  constructor(private readonly deps: GatewayParts) {}

  /** Where a gateway room's Matrix doings go: to every occupant but the sender's own resources, from the sender's nick. */
  destination(link: GatewayLink, trail?: Trail): XmppDestination {
    const room = link.muc;
    const roster = this.deps.rosters.get(room);
    const addressOf = (matrixUser: string) => `${room}/${roster?.nicks.get(matrixUser) ?? matrixLocalpart(matrixUser)}`;
    const fanOut = async (sender: string, render: (to: string) => Element): Promise<void> => {
      const own = isGhost(sender, this.deps.addressing) ? jidOfGhost(sender, this.deps.addressing) : undefined;
      for (const occupant of (await this.deps.store.gatewayOccupants(room)).keys()) {
        if (splitJid(occupant).bare !== own) await this.deps.rosters.send(render(occupant));
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
        deliver(what, () => fanOut(sender, (to) => renderMessage({ ...message, from: addressOf(sender), to, type: "groupchat", stanzaId: { id: message.id, by: room }, trail }))),
      signal: (sender, signal, what) => deliver(what, () => fanOut(sender, (to) => renderSignal({ ...signal, from: addressOf(sender), to, type: "groupchat", trail }))),
    };
  }

  /** Takes a groupchat message from someone who is not in the room: XEP-0045 §7.4 refuses it. */
  async refuseStrangers({ message }: XmppEventOf<"message">, destination: MatrixDestination | undefined): Promise<boolean> {
    if (message.conversation.kind !== "gateway") return false;
    const { room, occupant } = message.conversation;
    if (destination && (await this.deps.store.gatewayOccupants(room)).has(occupant)) return false;
    const text = "Only occupants may send messages to this room: join it first.";
    await this.deps.rosters.send(renderStanzaError("message", room, occupant, message.ids.id, "modify", "not-acceptable", text));
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
      await this.deps.rosters.send(reflection);
    }
    this.deps.log.debug({ room, eventId, roomId: destination.roomId }, "message reflected to its sender");
  }

  /** Reads the room's members again when they are not in memory (after a restart, or when evicted). */
  prepare(link: GatewayLink): Promise<void> {
    return this.deps.rosters.prepare(link, () => this.deps.store.gatewayOccupants(link.muc));
  }
}

/** The text an occupant sent, as the room reflects it: a reply's quote and a file's link included. */
function reflectedBody(message: XmppInboundMessage): string {
  const text = `${message.replyTo?.quote ?? ""}${message.emote ? "/me " : ""}${message.body}`;
  return text !== "" ? text : (message.files ?? []).map((f) => f.url).join("\n");
}
