/** Plain-text messages between the core model and Matrix event content. Pure functions. */
import type { ChatMessage } from "./model.js";

/**
 * Synapse refuses events over 64 KiB (M_TOO_LARGE); a body this size leaves room for the rest of
 * the event (IDs, signatures, formatted_body later) with a wide margin.
 */
export const MAX_MATRIX_BODY_BYTES = 32 * 1024;

/** Matrix content for a message from XMPP. */
export function toMatrixContent(message: ChatMessage): Record<string, unknown> {
  return { msgtype: message.emote ? "m.emote" : "m.text", body: message.body };
}

/** The text of a Matrix message event, or undefined when there is nothing a person wrote. */
export function fromMatrixContent(content: Record<string, unknown> | undefined): ChatMessage | undefined {
  if (!content || typeof content.body !== "string" || content.body.trim() === "") return undefined;
  switch (content.msgtype) {
    case "m.text":
    case "m.notice":
      return { body: content.body };
    case "m.emote":
      return { body: content.body, emote: true };
    default:
      // Media and unknown message types still carry a body meant for clients that cannot show more.
      return { body: content.body };
  }
}

/** The XMPP body of a message: "/me " is how XMPP clients mark an emote (XEP-0245). */
export function toXmppBody(message: ChatMessage): string {
  return message.emote ? `/me ${message.body}` : message.body;
}

const encoder = new TextEncoder();

/**
 * Cuts text into parts of at most maxBytes of UTF-8, at line breaks or spaces where possible and
 * never inside a character (surrogate pair) or grapheme-breaking a ZWJ sequence mid-code-point.
 */
export function splitText(text: string, maxBytes: number): string[] {
  if (encoder.encode(text).length <= maxBytes) return [text];
  const parts: string[] = [];
  let rest = text;
  while (encoder.encode(rest).length > maxBytes) {
    // Longest prefix within the limit, counted in whole code points.
    let bytes = 0;
    let end = 0;
    for (const ch of rest) {
      const size = encoder.encode(ch).length;
      if (bytes + size > maxBytes) break;
      bytes += size;
      end += ch.length;
    }
    const head = rest.slice(0, end);
    const breakAt = Math.max(head.lastIndexOf("\n"), head.lastIndexOf(" "));
    const cut = breakAt > end / 2 ? breakAt + 1 : end;
    parts.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  if (rest.length > 0) parts.push(rest);
  return parts;
}
