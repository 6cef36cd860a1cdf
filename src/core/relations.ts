/**
 * Messages that point at other messages (edits, replies, retractions): the Matrix thread relation, and
 * the text fallbacks XMPP uses (XEP-0428), built or stripped. Pure functions.
 */

/** The relation that puts a message in a Matrix thread, with the fallback reply for clients without threads. */
export function threadRelation(root: string, replyTo: string | undefined): Record<string, unknown> {
  return { rel_type: "m.thread", event_id: root, is_falling_back: replyTo === undefined, "m.in_reply_to": { event_id: replyTo ?? root } };
}

const QUOTE_MAX_CHARS = 60;

/**
 * The short quote that precedes a reply's text for clients without XEP-0461: the first line of the
 * original, cut at a word, "> " in front. `length` is in code points, as XEP-0428 counts.
 */
export function quoteFallback(originalBody: string, author?: string): { text: string; length: number } {
  const firstLine = originalBody.split("\n").find((l) => l.trim() !== "")?.trim() ?? "";
  const chars = [...firstLine];
  let quoted = firstLine;
  if (chars.length > QUOTE_MAX_CHARS) {
    const cut = chars.slice(0, QUOTE_MAX_CHARS).join("");
    const space = cut.lastIndexOf(" ");
    quoted = `${space > QUOTE_MAX_CHARS / 2 ? cut.slice(0, space) : cut}…`;
  }
  const text = `> ${author ? `${author}: ` : ""}${quoted}\n`;
  return { text, length: [...text].length };
}

/** Removes the code-point ranges [start, end) that a XEP-0428 fallback marks, keeping the rest. */
export function removeFallbackRanges(body: string, ranges: readonly { start: number; end: number }[]): string {
  const chars = [...body];
  const drop = new Array<boolean>(chars.length).fill(false);
  for (const { start, end } of ranges) {
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end <= start) continue;
    for (let i = start; i < Math.min(end, chars.length); i++) drop[i] = true;
  }
  return chars.filter((_, i) => !drop[i]).join("");
}

/** The body of an edit as Matrix clients without edit support read it. */
export const editFallbackBody = (newBody: string): string => `* ${newBody}`;
