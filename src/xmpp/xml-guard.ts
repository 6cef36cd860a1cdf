/**
 * The one filter every byte bound for the XMPP server passes (see ComponentConnection): a single character
 * that XML 1.0 forbids makes the server close the component stream, and with it every conversation of
 * every user. The XML library escapes markup; this removes what no escaping can carry.
 *
 * XML 1.0 §2.2 allows tab, LF, CR, U+0020–U+D7FF, U+E000–U+FFFD and U+10000–U+10FFFF. In a JavaScript
 * string that leaves out the other C0 controls, U+FFFE, U+FFFF and surrogates that do not stand in a
 * pair; the latter become U+FFFD, as a UTF-8 encoder would write them, the others are dropped.
 */
const FORBIDDEN = /[\0-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const FORBIDDEN_ALL = new RegExp(FORBIDDEN.source, "g");

const isSurrogate = (unit: string): boolean => unit >= "\uD800" && unit <= "\uDFFF";

export function xmlSafe(text: string): string {
  if (!FORBIDDEN.test(text)) return text;
  return text.replace(FORBIDDEN_ALL, (unit) => (isSurrogate(unit) ? "\uFFFD" : ""));
}
