import { asError } from "../../core/errors.js";
import { isGhost, splitJid } from "../../core/identity.js";
import * as notices from "../../core/notices.js";
import { xmppIdOf } from "../../core/conversations.js";
import type { MatrixInboundOf, XmppEventOf } from "../../core/model.js";
import { renderModerationRequest } from "../../xmpp/stanzas.js";
import { deliver, isPassing } from "../errors.js";
import type { GhostDestination, MatrixDestination } from "../destinations/matrix-destination.js";
import type { XmppDestination } from "../destinations/xmpp-destination.js";
import type { CapabilityDeps } from "./capability.js";

/**
 * Removed messages both ways: a sender's own message is retracted (XEP-0424) or redacted by its
 * ghost; a moderator's removal of someone else's message in a MUC is moderation (XEP-0425) on XMPP,
 * the bot's redaction on Matrix. A removal XMPP refuses is told in the room.
 */
export class Redactions {
  constructor(private readonly deps: CapabilityDeps) {}

  async fromMatrix({ sender, roomId, eventId, redacts, reason }: MatrixInboundOf<"redaction">, destination: XmppDestination): Promise<void> {
    const original = await this.deps.store.messageByEventId(redacts);
    if (original?.sender && original.sender !== sender && isGhost(original.sender, this.deps.addressing) && destination.muc) {
      return this.moderate(destination, destination.muc, sender, original.ids.stanzaId, reason ?? "Removed on Matrix");
    }
    if (!original || original.sender !== sender) {
      this.deps.log.debug({ roomId, redacts, sender }, "redaction not bridged: not the sender's own bridged message");
      return;
    }
    const ref = destination.refOf(original.ids);
    if (!ref || !(await destination.ready(sender))) return;
    await destination.send(sender, { id: xmppIdOf(eventId), body: "/me retracted a message", retracts: ref }, "retract on XMPP");
  }

  /** Takes an XMPP message that retracts an earlier one. */
  async fromXmpp({ message }: XmppEventOf<"message">, { roomId, conversation, ghost }: MatrixDestination): Promise<boolean> {
    if (message.retracts === undefined || !ghost) return false;
    await this.retractedOnXmpp({ ghost, roomId, conversation }, message.retracts);
    return true;
  }

  /** An XMPP user retracted their message (XEP-0424): their ghost redacts it; a message the bridge does not know is nothing to remove. */
  async retractedOnXmpp({ ghost, roomId, conversation }: GhostDestination, retracts: string): Promise<void> {
    const eventId = await this.deps.store.eventIdForXmppId(conversation, retracts);
    if (eventId) await deliver("redact", () => this.deps.rooms.redact(ghost, roomId, eventId, "Retracted on XMPP"));
    else this.deps.log.debug({ conversation, id: retracts }, "retraction of a message the bridge does not know");
  }

  /** A MUC moderator removed a message (XEP-0425): the bot redacts its Matrix event. */
  async moderatedOnXmpp({ muc, stanzaId, by, reason }: XmppEventOf<"moderation">, { roomId }: MatrixDestination): Promise<void> {
    const eventId = await this.deps.store.eventIdForXmppId(muc, stanzaId);
    if (!eventId) return;
    const why = `Removed on XMPP${by ? ` by ${splitJid(by).resource ?? by}` : ""}${reason ? `: ${reason}` : ""}`;
    await deliver("redact", () => this.deps.rooms.redact(this.deps.botUserId, roomId, eventId, why));
  }

  /**
   * A Matrix moderator removed an XMPP user's message: their puppet asks the MUC to do the same
   * (XEP-0425, the current form, then the older one).
   */
  private async moderate(destination: XmppDestination, muc: string, moderator: string, stanzaId: string | undefined, reason: string): Promise<void> {
    const { roomId } = destination;
    if (!stanzaId) return;
    if (!(await destination.ready(moderator))) return;
    const from = destination.addressOf(moderator);
    let condition = "";
    for (const legacy of [false, true]) {
      try {
        await this.deps.connection.request(renderModerationRequest(from, muc, stanzaId, reason, legacy));
        this.deps.log.info({ muc, stanzaId, moderator }, "removed a message from a MUC");
        return;
      } catch (err) {
        if (isPassing(err)) throw err;
        condition = (err as { condition?: string }).condition ?? asError(err).message;
        if (condition !== "feature-not-implemented" && condition !== "bad-request" && condition !== "service-unavailable") break;
      }
    }
    await this.deps.rooms.notice(roomId, notices.messageRemovalRefused(muc, condition));
  }
}
