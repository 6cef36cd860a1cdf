import { createHash, randomUUID } from "node:crypto";
import { asError } from "../../core/errors.js";
import { ghostUserId } from "../../core/identity.js";
import type { MatrixInbound, XmppEvent, XmppEventOf } from "../../core/model.js";
import * as notices from "../../core/notices.js";
import { matrixErrorCode } from "../../matrix/rooms.js";
import { puppetAddress } from "../../xmpp/puppet-address.js";
import { renderMessage, renderReceipt, renderStanzaError } from "../../xmpp/stanzas.js";
import type { Element } from "@xmpp/xml";
import { deliver } from "../errors.js";
import type { MatrixDestination } from "../destinations/matrix-destination.js";
import type { LimitedMatrixEvent, SenderLimitSettings } from "../sender-limits.js";
import type { CapabilityDeps } from "./capability.js";

export type DeliveryDirection = "matrix_to_xmpp" | "xmpp_to_matrix";

export interface DeliveryStatusDeps extends CapabilityDeps {
  /** Counts a message that will never be delivered, by direction and reason (for the metrics). */
  undeliverable?: (direction: DeliveryDirection, reason: string) => void;
  /** The rate limit, as its senders are told it. */
  limit?: SenderLimitSettings;
}

/** The stanza error (RFC 6120 §8.3.3) that says best why the homeserver refused a message. */
function stanzaErrorOf(errcode: string | undefined): { type: "auth" | "modify" | "cancel"; condition: string } {
  if (errcode === "M_FORBIDDEN") return { type: "auth", condition: "forbidden" };
  if (errcode === "M_TOO_LARGE") return { type: "modify", condition: "not-acceptable" };
  return { type: "cancel", condition: "undefined-condition" };
}

/**
 * Whether a message arrived, told to its sender. An XMPP user who asks (XEP-0184) gets a receipt once
 * the homeserver has the message; one whose message never will gets an error with the original id.
 * A Matrix user whose message never will reach XMPP gets a notice replying to it. A message waiting on
 * an outage is none of these: it is only late. So is one the rate limit holds, and its sender is told
 * that, once per burst.
 */
export class DeliveryStatus {
  constructor(private readonly deps: DeliveryStatusDeps) {}

  /** After the message was posted (it is in the message map only then): the receipt its sender asked for. */
  async fromXmpp({ message }: XmppEventOf<"message">, { conversation }: MatrixDestination): Promise<void> {
    const { conversation: from, ids } = message;
    if (!message.receiptRequested || from.kind !== "dm" || !ids.id) return;
    if (!(await this.deps.store.eventIdForXmppId(conversation, ids.id))) return;
    await this.answer(renderReceipt(puppetAddress(from.matrixUser, this.deps.addressing), from.from ?? from.xmppUser, ids.id), "receipt");
  }

  /** An XMPP event the homeserver will never take: a message's sender in a DM is answered with an error. */
  async undeliverableFromXmpp(event: XmppEvent, err: unknown): Promise<void> {
    if (event.kind !== "message" || (event.message.body === "" && !event.message.files?.length)) return;
    const errcode = matrixErrorCode(err);
    this.deps.undeliverable?.("xmpp_to_matrix", errcode ?? "other");
    const { conversation: from, ids } = event.message;
    // A MUC's occupants are not the bridge's to answer: an error to a groupchat message may cost the puppet its place.
    if (from.kind !== "dm") return;
    const { type, condition } = stanzaErrorOf(errcode);
    const text = notices.notDeliveredToMatrix(notices.refusedByMatrix(errcode));
    await this.answer(renderStanzaError("message", puppetAddress(from.matrixUser, this.deps.addressing), from.from ?? from.xmppUser, ids.id, type, condition, text), "error");
  }

  /**
   * The rate limit holds an XMPP user's messages: a chat message from the bridge (the component's
   * domain) tells them, at the address they wrote from. In a MUC that hides real JIDs, there is none to
   * tell; an error to the groupchat message would cost the puppet its place.
   */
  async heldFromXmpp({ message }: XmppEventOf<"message">): Promise<void> {
    const from = message.conversation;
    const to = from.kind === "dm" ? (from.from ?? from.xmppUser) : from.kind === "gateway" ? from.occupant : from.realJid;
    if (!this.deps.limit) return;
    if (!to) return this.deps.log.info({ muc: from.kind === "muc" ? from.muc : undefined }, "the room hides who is past the rate limit: they cannot be told");
    const body = notices.heldByRateLimit("Matrix", this.deps.limit);
    await this.answer(renderMessage({ from: this.deps.addressing.componentDomain, to, type: "chat", id: randomUUID(), body }), "rate limit notice");
  }

  /** The rate limit holds a Matrix user's messages: a notice in the room, naming them, replying to the first one held. */
  async heldFromMatrix(event: LimitedMatrixEvent): Promise<void> {
    if (!this.deps.limit) return;
    await this.replyNotice(event.roomId, event.eventId, `${event.sender}: ${notices.heldByRateLimit("XMPP", this.deps.limit)}`, "held");
  }

  /** A Matrix message that will never reach XMPP: a notice replies to it. */
  async undeliverableFromMatrix(event: MatrixInbound, err: unknown): Promise<void> {
    if (event.kind !== "message") return;
    const failure = asError(err);
    this.deps.undeliverable?.("matrix_to_xmpp", failure.name);
    await this.replyNotice(event.roomId, event.eventId, notices.notDeliveredToXmpp(notices.bridgeFailed(failure.message)));
  }

  /** What a puppet wrote in a DM came back from the XMPP user's server for good: a notice replies to it on Matrix. */
  async bounced({ xmppUser, id, condition, text }: XmppEventOf<"bounced">, { roomId, conversation }: MatrixDestination): Promise<void> {
    const eventId = await this.deps.store.eventIdForXmppId(conversation, id);
    if (!eventId) return;
    this.deps.undeliverable?.("matrix_to_xmpp", condition ?? "other");
    await deliver("notice", () => this.replyNotice(roomId, eventId, notices.notDeliveredToXmpp(notices.bouncedOnXmpp(xmppUser, condition, text))));
  }

  /**
   * A notice replying to the event it is about: by the bot, or in a DM (where the bot is not) by the XMPP
   * user's ghost, once however often it is tried (`about` keeps notices of one event apart).
   */
  private async replyNotice(roomId: string, eventId: string, text: string, about = "undelivered"): Promise<void> {
    const link = await this.deps.store.linkByRoom(roomId);
    if (link?.kind !== "dm") return this.deps.rooms.notice(roomId, text, eventId);
    const content = { msgtype: "m.notice", body: text, "m.relates_to": { "m.in_reply_to": { event_id: eventId } } };
    const txnId = `${about}.${createHash("sha256").update(eventId).digest("base64url").slice(0, 32)}`;
    await this.deps.rooms.send(ghostUserId(link.xmppUser, this.deps.addressing), roomId, content, txnId);
  }

  /** Best effort: a receipt or an error lost with the connection is not worth holding the conversation for. */
  private async answer(stanza: Element, what: string): Promise<void> {
    try {
      await this.deps.connection.send(stanza);
    } catch (err) {
      this.deps.log.info({ to: stanza.attrs.to, id: stanza.attrs.id, err }, `could not send a delivery ${what}`);
    }
  }
}
