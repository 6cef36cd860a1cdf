import { quoteFallback } from "../../core/relations.js";
import type { XmppInboundMessage } from "../../core/model.js";
import type { MessageOut, XmppDestination } from "../destinations/xmpp-destination.js";
import type { CapabilityDeps } from "./capability.js";

type RepliesDeps = Pick<CapabilityDeps, "store" | "rooms">;

/**
 * Replies both ways: Matrix m.in_reply_to and XEP-0461 replies, each with a quote of the original as
 * the fallback (XEP-0428) for clients without replies. A reply to a message the other side never saw
 * keeps its quote as text.
 */
export async function replyToXmpp({ store, rooms }: RepliesDeps, destination: XmppDestination, replyTo: string, out: MessageOut, withFile: boolean): Promise<MessageOut> {
  const original = await store.messageByEventId(replyTo);
  const ref = original ? destination.refOf(original.ids) : undefined;
  if (!ref) return out;
  const originalText = await rooms.messageText(destination.roomId, replyTo, destination.viewer);
  // A file's body must stay its link alone.
  if (!originalText || withFile) return { ...out, reply: { id: ref, fallbackLength: 0 } };
  const quote = quoteFallback(originalText);
  return { ...out, body: quote.text + out.body, reply: { id: ref, fallbackLength: quote.length } };
}

/** An XMPP reply to a message Matrix does not know keeps its quote, as text. */
export function withUnknownReplyQuoted<M extends Pick<XmppInboundMessage, "body" | "replyTo">>(message: M, repliedTo: string | undefined): M {
  return message.replyTo && !repliedTo ? { ...message, body: message.replyTo.quote + message.body } : message;
}
