/** Mentions: an XMPP body naming a Matrix user's MUC nick becomes a Matrix mention. Pure functions. */
import { escapeHtml, escapeRegex } from "./escape.js";

export interface Mention {
  /** The name as it stands in the text (the puppet's nick). */
  name: string;
  matrixUser: string;
}

/** A name mentioned as a word of its own: not inside a longer word (so "Max" is not in "Maxine"). */
function nameMatcher(names: readonly string[]): RegExp | undefined {
  if (names.length === 0) return undefined;
  const alternatives = [...names].sort((a, b) => b.length - a.length).map(escapeRegex).join("|");
  return new RegExp(`(?<![\\p{L}\\p{N}_])(${alternatives})(?![\\p{L}\\p{N}_])`, "gu");
}

/** Where the text names each candidate, as code-point ranges (first occurrence of each). */
export function locateMentions(text: string, candidates: readonly Mention[]): { mention: Mention; begin: number; end: number }[] {
  const matcher = nameMatcher(candidates.map((c) => c.name).filter((n) => n.trim() !== ""));
  if (!matcher) return [];
  const found = new Map<string, { begin: number; end: number }>();
  for (const m of text.matchAll(matcher)) {
    if (found.has(m[1]!)) continue;
    const begin = [...text.slice(0, m.index)].length;
    found.set(m[1]!, { begin, end: begin + [...m[1]!].length });
  }
  return candidates.flatMap((mention) => {
    const at = found.get(mention.name);
    return at ? [{ mention, ...at }] : [];
  });
}

/** The mentions among the candidates (puppets' nicks in the room) that the text names. */
export function findMentions(text: string, candidates: readonly Mention[]): Mention[] {
  return locateMentions(text, candidates).map((l) => l.mention);
}

/** The text as Matrix HTML with each mention as a pill (a matrix.to link naming the user). */
export function pillify(text: string, mentions: readonly Mention[]): string {
  const matcher = nameMatcher(mentions.map((m) => m.name));
  const byName = new Map(mentions.map((m) => [m.name, m.matrixUser]));
  if (!matcher) return escapeHtml(text).replace(/\n/g, "<br>");
  let html = "";
  let last = 0;
  for (const match of text.matchAll(matcher)) {
    const user = byName.get(match[1]!)!;
    html += escapeHtml(text.slice(last, match.index)) + `<a href="https://matrix.to/#/${encodeURIComponent(user)}">${escapeHtml(match[1]!)}</a>`;
    last = match.index + match[0].length;
  }
  return (html + escapeHtml(text.slice(last))).replace(/\n/g, "<br>");
}
