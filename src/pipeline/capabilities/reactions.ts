import { createHash } from "node:crypto";
import type { Link, MatrixInboundOf, XmppMessageIds } from "../../core/model.js";
import { quoteFallback } from "../../core/relations.js";
import { puppetAddress } from "../../xmpp/puppet-address.js";
import { renderMessage, renderSignal } from "../../xmpp/stanzas.js";
import { deliver } from "../errors.js";
import type { MatrixDestination } from "../matrix-destination.js";
import { xmppIdOf } from "../xmpp-destination.js";
import type { CapabilityDeps } from "./capability.js";

const REACTIONS = "urn:xmpp:reactions:0";

export interface ReactionsDeps extends CapabilityDeps {
  /** Whether an XMPP user's client supports a feature; undefined when unknown. */
  peerSupports(jid: string, feature: string, askingFrom: string): Promise<boolean | undefined>;
}

/**
 * Reactions both ways. XMPP sends a user's whole set of reactions to a message at once (XEP-0444),
 * Matrix one m.reaction event per emoji, each redacted to take it back. Where XMPP cannot show a
 * reaction (to a message it never saw, or in a client known not to support them), a line of text
 * stands in.
 */
export class Reactions {
  constructor(private readonly deps: ReactionsDeps) {}

  /** A Matrix user reacted: XMPP gets their whole set of reactions to that message. */
  async fromMatrix({ sender, roomId, eventId, target, key }: MatrixInboundOf<"reaction">): Promise<void> {
    const link = await this.deps.store.linkByRoom(roomId);
    if (!link) return;
    const original = await this.deps.store.messageByEventId(target);
    // A client known not to show reactions (disco#info) gets the text instead.
    const unsupported = link.kind === "dm" && (await this.deps.peerSupports(link.xmppUser, REACTIONS, puppetAddress(sender, this.deps.addressing))) === false;
    if (!original || unsupported) return this.fallback(link, roomId, sender, target, key, eventId);
    await this.deps.store.recordReaction({ target, sender, key, eventId }, this.deps.messageMapSeconds);
    await this.sendSet(link, roomId, sender, target, eventId);
  }

  /** A Matrix user redacted one of their reactions: XMPP gets the set without it. True when the redacted event was a reaction. */
  async takenBackOnMatrix({ sender, roomId, eventId, redacts }: MatrixInboundOf<"redaction">): Promise<boolean> {
    const link = await this.deps.store.linkByRoom(roomId);
    const reaction = link ? await this.deps.store.reactionByEventId(redacts) : undefined;
    if (!link || !reaction) return false;
    if (reaction.sender !== sender) return true;
    await this.deps.store.forgetReaction(reaction);
    await this.sendSet(link, roomId, sender, reaction.target, eventId);
    return true;
  }

  /** An XMPP user's set of reactions to a message (empty takes them all back): their ghost's reactions follow, one by one. */
  async toMatrix({ ghost, roomId, conversation }: MatrixDestination, reactions: { id: string; emojis: readonly string[] }, ids: XmppMessageIds): Promise<void> {
    const target = await this.deps.store.eventIdForXmppId(conversation, reactions.id);
    if (!target) {
      this.deps.log.debug({ conversation, id: reactions.id }, "reactions to a message the bridge does not know");
      return;
    }
    const sourceId = ids.stanzaId ?? ids.originId ?? ids.id ?? String(Date.now());
    const current = await this.deps.store.reactionsOf(target, ghost);
    for (const [key, eventId] of current) {
      if (reactions.emojis.includes(key)) continue;
      await deliver("unreact", () => this.deps.rooms.redact(ghost, roomId, eventId));
      await this.deps.store.forgetReaction({ target, sender: ghost, key, eventId });
    }
    for (const key of reactions.emojis) {
      if (current.has(key)) continue;
      // Keyed by the XMPP stanza too: an emoji taken back and given again is a new reaction.
      const txnId = createHash("sha256").update(`${sourceId}\n${target}\n${ghost}\n${key}`).digest("base64url").slice(0, 32);
      const content = { "m.relates_to": { rel_type: "m.annotation", event_id: target, key } };
      const eventId = await deliver("react", () => this.deps.rooms.send(ghost, roomId, content, txnId, "m.reaction"));
      await this.deps.store.recordReaction({ target, sender: ghost, key, eventId }, this.deps.messageMapSeconds);
    }
  }

  private async sendSet(link: Link, roomId: string, sender: string, targetEvent: string, causeEvent: string): Promise<void> {
    const original = await this.deps.store.messageByEventId(targetEvent);
    const destination = this.deps.puppets.destination(link);
    const ref = original ? destination.refOf(original.ids) : undefined;
    if (!ref || !(await this.deps.puppets.ready(link, sender, roomId))) return;
    const emojis = [...(await this.deps.store.reactionsOf(targetEvent, sender)).keys()];
    const from = puppetAddress(sender, this.deps.addressing);
    await deliver("react on XMPP", () =>
      this.deps.connection.send(renderSignal({ from, to: destination.to, type: destination.type, id: xmppIdOf(causeEvent), reactions: { id: ref, emojis } })),
    );
  }

  /** The fallback: a short line of text naming the message, with no Matrix IDs in it. */
  private async fallback(link: Link, roomId: string, sender: string, targetEvent: string, key: string, causeEvent: string): Promise<void> {
    const destination = this.deps.puppets.destination(link);
    const text = await this.deps.rooms.messageText(roomId, targetEvent, destination.viewer);
    const words = text ? quoteFallback(text).text.slice(2).trim() : undefined;
    if (!(await this.deps.puppets.ready(link, sender, roomId))) return;
    const body = words ? `/me reacted ${key} to "${words}"` : `/me reacted ${key}`;
    const from = puppetAddress(sender, this.deps.addressing);
    await deliver("send to XMPP", () => this.deps.connection.send(renderMessage({ from, to: destination.to, type: destination.type, id: xmppIdOf(causeEvent), body })));
  }
}
