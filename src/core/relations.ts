/**
 * Messages that point at other messages (edits, replies, retractions): reading Matrix relations and
 * building or stripping the text fallbacks XMPP uses (XEP-0428). Pure functions.
 */

export interface MatrixRelation {
  /** m.replace: the edited event and the new content. */
  edit?: { target: string; newContent: Record<string, unknown> };
  /** m.in_reply_to: the event replied to (not set for a thread's fallback reply). */
  replyTo?: string;
  /** m.thread: the thread's root event. */
  threadRoot?: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export function readMatrixRelation(content: Record<string, unknown> | undefined): MatrixRelation {
  const relates = content?.["m.relates_to"];
  if (!isRecord(relates)) return {};
  if (relates.rel_type === "m.replace" && typeof relates.event_id === "string" && isRecord(content?.["m.new_content"])) {
    return { edit: { target: relates.event_id, newContent: content["m.new_content"] } };
  }
  const relation: MatrixRelation = {};
  if (relates.rel_type === "m.thread" && typeof relates.event_id === "string") relation.threadRoot = relates.event_id;
  const inReplyTo = relates["m.in_reply_to"];
  // In a thread, a reply marked is_falling_back only exists for clients that cannot show threads.
  if (isRecord(inReplyTo) && typeof inReplyTo.event_id === "string" && !(relation.threadRoot && relates.is_falling_back === true)) {
    relation.replyTo = inReplyTo.event_id;
  }
  return relation;
}

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
