import saslprep from "@mongodb-js/saslprep";

/**
 * MUC nicks for puppets, from Matrix display names. A nick is the resource of an occupant JID, so it
 * must survive resourceprep (RFC 3920 Appendix B, stringprep RFC 3454) unchanged, or the server refuses
 * the join with jid-malformed. SASLprep (RFC 4013) prohibits exactly the code points resourceprep does
 * and applies the same mapping and normalisation, except that it maps non-ASCII spaces to U+0020 where
 * resourceprep prohibits them: mapping those first makes one the check of the other.
 */

/** RFC 3454 B.1 (mapped to nothing by both) wins over C.1.2 for U+200B, as in resourceprep. */
const ZERO_WIDTH_SPACE = /\u200B/g;
/** RFC 3454 C.1.2: spaces resourceprep prohibits; a display name means a space by them. */
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]/g;
/** JID parts are limited to 1023 bytes (RFC 7622 §3.1). */
export const MAX_NICK_BYTES = 1023;
/**
 * Letters of the right-to-left scripts (RFC 3454 D.1, RandALCat). A name in such a script must start
 * and end with one and hold no left-to-right letter (RFC 3454 §6).
 */
const RIGHT_TO_LEFT = /[\p{Script=Hebrew}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}]/u;
const NOT_RTL_AT_ENDS = /^[^\p{Script=Hebrew}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}]+|[^\p{Script=Hebrew}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}]+$/gu;

/** The string as resourceprep would leave it, or undefined when resourceprep refuses it. */
export function resourceprep(text: string): string | undefined {
  try {
    return saslprep(text.replace(ZERO_WIDTH_SPACE, "").replace(NON_ASCII_SPACE, " "), { allowUnassigned: true });
  } catch {
    return undefined;
  }
}

/** Cuts a string to at most `bytes` of UTF-8, between code points. */
function truncateUtf8(text: string, bytes: number): string {
  if (Buffer.byteLength(text) <= bytes) return text;
  let out = "";
  let used = 0;
  for (const c of text) {
    used += Buffer.byteLength(c);
    if (used > bytes) break;
    out += c;
  }
  return out;
}

/** A valid nick made of what can be kept of `name`, or undefined when nothing can. */
function nickFrom(name: string): string | undefined {
  // Drop each code point resourceprep prohibits (controls, private use, non-characters, lone surrogates...).
  const kept = [...name].filter((c) => resourceprep(c) !== undefined).join("");
  const tidy = truncateUtf8(kept.replace(/\s+/g, " ").trim(), MAX_NICK_BYTES);
  if (!tidy) return undefined;
  const nick = resourceprep(tidy) ?? (RIGHT_TO_LEFT.test(tidy) ? resourceprep(tidy.replace(NOT_RTL_AT_ENDS, "")) : undefined);
  // Normalisation can lengthen a string; a nick is checked again once it is final.
  return nick && Buffer.byteLength(nick) <= MAX_NICK_BYTES && resourceprep(nick) === nick ? nick : undefined;
}

/**
 * The nick a puppet asks for: the display name, cleaned so the server takes it as it is; where nothing
 * of it can be a nick (say, a name that mixes right-to-left and left-to-right letters), `fallback`,
 * which is the Matrix user's localpart and always valid.
 */
export function puppetNick(displayName: string, fallback: string): string {
  return nickFrom(displayName) ?? nickFrom(fallback) ?? "Matrix user";
}
