import { createHash } from "node:crypto";
import { xmppIdOf } from "../../core/conversations.js";
import type { MatrixInboundOf, XmppEventOf, XmppMessageIds } from "../../core/model.js";
import { quoteFallback } from "../../core/relations.js";
import { deliver } from "../errors.js";
import type { GhostDestination, MatrixDestination } from "../destinations/matrix-destination.js";
import type { XmppDestination } from "../destinations/xmpp-destination.js";
import type { CapabilityDeps } from "./capability.js";

const REACTIONS = "urn:xmpp:reactions:0";
/** XEP-0444 reactions are emoji: a longer key (Matrix allows any text) is said in words instead. */
const MAX_XMPP_REACTION_CHARS = 32;
/** Synapse refuses reaction keys longer than this (in code points). */
const MAX_MATRIX_REACTION_CHARS = 500;
const codePoints = (s: string): number => [...s].length;

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
  async fromMatrix({ sender, eventId, target, key }: MatrixInboundOf<"reaction">, destination: XmppDestination): Promise<void> {
    const { link } = destination;
    const original = await this.deps.store.messageByEventId(target);
    // A client known not to show reactions (disco#info) gets the text instead.
    const unsupported = link.kind === "dm" && (await this.deps.peerSupports(link.xmppUser, REACTIONS, destination.addressOf(sender))) === false;
    if (!original || unsupported || codePoints(key) > MAX_XMPP_REACTION_CHARS) return this.fallback(destination, sender, target, key, eventId);
    await this.deps.store.recordReaction({ target, sender, key, eventId }, this.deps.messageMapSeconds);
    await this.sendSet(destination, sender, target, eventId);
  }

  /** A Matrix user redacted one of their reactions: XMPP gets the set without it. True when the redacted event was a reaction. */
  async takenBackOnMatrix({ sender, eventId, redacts }: MatrixInboundOf<"redaction">, destination: XmppDestination): Promise<boolean> {
    const reaction = await this.deps.store.reactionByEventId(redacts);
    if (!reaction) return false;
    if (reaction.sender !== sender) return true;
    await this.deps.store.forgetReaction(reaction);
    await this.sendSet(destination, sender, reaction.target, eventId);
    return true;
  }

  /** Takes an XMPP message that carries a set of reactions. */
  async fromXmpp({ message }: XmppEventOf<"message">, { roomId, conversation, ghost }: MatrixDestination): Promise<boolean> {
    if (!message.reactions || !ghost) return false;
    await this.toMatrix({ ghost, roomId, conversation }, message.reactions, message.ids);
    return true;
  }

  /** An XMPP user's set of reactions to a message (empty takes them all back): their ghost's reactions follow, one by one. */
  async toMatrix({ ghost, roomId, conversation }: GhostDestination, reactions: { id: string; emojis: readonly string[] }, ids: XmppMessageIds): Promise<void> {
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
      if (codePoints(key) > MAX_MATRIX_REACTION_CHARS) {
        this.deps.log.warn({ conversation, id: reactions.id, chars: codePoints(key) }, "a reaction too long for Matrix is left out");
        continue;
      }
      // Keyed by the XMPP stanza too: an emoji taken back and given again is a new reaction.
      const txnId = createHash("sha256").update(`${sourceId}\n${target}\n${ghost}\n${key}`).digest("base64url").slice(0, 32);
      const content = { "m.relates_to": { rel_type: "m.annotation", event_id: target, key } };
      const eventId = await deliver("react", () => this.deps.rooms.send(ghost, roomId, content, txnId, "m.reaction"));
      await this.deps.store.recordReaction({ target, sender: ghost, key, eventId }, this.deps.messageMapSeconds);
    }
  }

  private async sendSet(destination: XmppDestination, sender: string, targetEvent: string, causeEvent: string): Promise<void> {
    const original = await this.deps.store.messageByEventId(targetEvent);
    const ref = original ? destination.refOf(original.ids) : undefined;
    if (!ref || !(await destination.ready(sender))) return;
    const emojis = [...(await this.deps.store.reactionsOf(targetEvent, sender)).keys()];
    await destination.signal(sender, { id: xmppIdOf(causeEvent), reactions: { id: ref, emojis } }, "react on XMPP");
  }

  /** The fallback: a short line of text naming the message, with no Matrix IDs in it. */
  private async fallback(destination: XmppDestination, sender: string, targetEvent: string, key: string, causeEvent: string): Promise<void> {
    const text = await this.deps.rooms.messageText(destination.roomId, targetEvent, destination.viewer);
    const words = text ? quoteFallback(text).text.slice(2).trim() : undefined;
    if (!(await destination.ready(sender))) return;
    const body = words ? `/me reacted ${key} to "${words}"` : `/me reacted ${key}`;
    await destination.send(sender, { id: xmppIdOf(causeEvent), body });
  }
}
