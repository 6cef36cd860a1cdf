/** Messages between the core model and Matrix event content. Pure functions. */
import { htmlToStyledText, nestedTooDeep, sanitizeMatrixHtml, styledTextToHtml } from "./formatting.js";
import { pillify, type Mention } from "./mentions.js";
import type { ChatMessage } from "./model.js";

/**
 * Synapse refuses events over 64 KiB (M_TOO_LARGE); a body this size leaves room for the rest of
 * the event (IDs, signatures, formatted_body later) with a wide margin.
 */
export const MAX_MATRIX_BODY_BYTES = 32 * 1024;

const HTML_FORMAT = "org.matrix.custom.html";

/** Matrix content for a message from XMPP: XHTML-IM as given, else the body's XEP-0393 styling, as HTML. */
export function toMatrixContent(message: ChatMessage & { mentions?: readonly Mention[] }): Record<string, unknown> {
  const content: Record<string, unknown> = { msgtype: message.emote ? "m.emote" : "m.text", body: message.body };
  const mentions = message.mentions ?? [];
  // Pills only in unstyled text; m.mentions (which is what notifies) is set either way.
  const html = message.html ?? styledTextToHtml(message.body) ?? (mentions.length > 0 ? pillify(message.body, mentions) : undefined);
  if (html !== undefined) Object.assign(content, { format: HTML_FORMAT, formatted_body: html });
  content["m.mentions"] = mentions.length > 0 ? { user_ids: [...new Set(mentions.map((m) => m.matrixUser))] } : {};
  return content;
}

/** The text of a Matrix message, as the Matrix side's edge reads it. */
export interface MatrixText {
  msgtype: string;
  body: string;
  /** The formatted body, when it is Matrix HTML (as sent: unsanitized). */
  html?: string;
}

/**
 * What a person wrote in a Matrix message, or undefined when there is nothing. HTML becomes XEP-0393
 * styled text (no Matrix IDs or matrix.to links survive it).
 */
export function fromMatrixContent(content: MatrixText): ChatMessage | undefined {
  if (content.body.trim() === "") return undefined;
  const html = content.html !== undefined && !nestedTooDeep(content.html) ? sanitizeMatrixHtml(content.html) : undefined;
  const styled = html !== undefined ? htmlToStyledText(html) : "";
  const message: ChatMessage = html !== undefined && styled.trim() !== "" ? { body: styled, html } : { body: content.body };
  // Media and unknown message types still carry a body meant for clients that cannot show more.
  if (content.msgtype === "m.emote") message.emote = true;
  return message;
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
