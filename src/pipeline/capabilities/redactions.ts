import { asError } from "../../core/errors.js";
import { isGhost, splitJid } from "../../core/identity.js";
import * as notices from "../../core/notices.js";
import type { MatrixInboundOf, XmppEventOf } from "../../core/model.js";
import { puppetAddress } from "../../xmpp/puppet-address.js";
import { renderMessage, renderModerationRequest } from "../../xmpp/stanzas.js";
import { deliver, isPassing } from "../errors.js";
import type { MatrixDestination } from "../matrix-destination.js";
import type { MucLink } from "../puppets.js";
import { xmppIdOf } from "../xmpp-destination.js";
import type { CapabilityDeps } from "./capability.js";

/**
 * Removed messages both ways: a sender's own message is retracted (XEP-0424) or redacted by its
 * ghost; a moderator's removal of someone else's message in a MUC is moderation (XEP-0425) on XMPP,
 * the bot's redaction on Matrix. A removal XMPP refuses is told in the room.
 */
export class Redactions {
  constructor(private readonly deps: CapabilityDeps) {}

  async fromMatrix({ sender, roomId, eventId, redacts, reason }: MatrixInboundOf<"redaction">): Promise<void> {
    const link = await this.deps.store.linkByRoom(roomId);
    if (!link) return;
    const original = await this.deps.store.messageByEventId(redacts);
    if (original?.sender && original.sender !== sender && isGhost(original.sender, this.deps.addressing) && link.kind !== "dm") {
      return this.moderate(link, roomId, sender, original.ids.stanzaId, reason ?? "Removed on Matrix");
    }
    if (!original || original.sender !== sender) {
      this.deps.log.debug({ roomId, redacts, sender }, "redaction not bridged: not the sender's own bridged message");
      return;
    }
    const destination = this.deps.puppets.destination(link);
    const ref = destination.refOf(original.ids);
    if (!ref || !(await this.deps.puppets.ready(link, sender, roomId))) return;
    const from = puppetAddress(sender, this.deps.addressing);
    await deliver("retract on XMPP", () =>
      this.deps.connection.send(renderMessage({ from, to: destination.to, type: destination.type, id: xmppIdOf(eventId), body: "/me retracted a message", retracts: ref })),
    );
  }

  /** An XMPP user retracted their message (XEP-0424): their ghost redacts it; a message the bridge does not know is nothing to remove. */
  async retractedOnXmpp({ ghost, roomId, conversation }: MatrixDestination, retracts: string): Promise<void> {
    const eventId = await this.deps.store.eventIdForXmppId(conversation, retracts);
    if (eventId) await deliver("redact", () => this.deps.rooms.redact(ghost, roomId, eventId, "Retracted on XMPP"));
    else this.deps.log.debug({ conversation, id: retracts }, "retraction of a message the bridge does not know");
  }

  /** A MUC moderator removed a message (XEP-0425): the bot redacts its Matrix event. */
  async moderatedOnXmpp({ muc, stanzaId, by, reason }: XmppEventOf<"moderation">): Promise<void> {
    const link = await this.deps.store.linkByMuc(muc);
    const eventId = link ? await this.deps.store.eventIdForXmppId(muc, stanzaId) : undefined;
    if (!link || !eventId) return;
    const why = `Removed on XMPP${by ? ` by ${splitJid(by).resource ?? by}` : ""}${reason ? `: ${reason}` : ""}`;
    await deliver("redact", () => this.deps.rooms.redact(this.deps.botUserId, link.roomId, eventId, why));
  }

  /**
   * A Matrix moderator removed an XMPP user's message: their puppet asks the MUC to do the same
   * (XEP-0425, the current form, then the older one).
   */
  private async moderate(link: MucLink, roomId: string, moderator: string, stanzaId: string | undefined, reason: string): Promise<void> {
    if (!stanzaId) return;
    if (!(await this.deps.puppets.ready(link, moderator, roomId))) return;
    const from = puppetAddress(moderator, this.deps.addressing);
    let condition = "";
    for (const legacy of [false, true]) {
      try {
        await this.deps.connection.request(renderModerationRequest(from, link.muc, stanzaId, reason, legacy));
        this.deps.log.info({ muc: link.muc, stanzaId, moderator }, "removed a message from a MUC");
        return;
      } catch (err) {
        if (isPassing(err)) throw err;
        condition = (err as { condition?: string }).condition ?? asError(err).message;
        if (condition !== "feature-not-implemented" && condition !== "bad-request" && condition !== "service-unavailable") break;
      }
    }
    await this.deps.rooms.notice(roomId, notices.messageRemovalRefused(link.muc, condition));
  }
}
