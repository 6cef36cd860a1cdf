/**
 * `npm run fuzz`: generated Matrix events, stanzas and formatted text thrown at the parsers and
 * converters for a bounded time (FUZZ_SECONDS, or --seconds N; 60 by default, shared between the
 * targets). Fails on the first exception that escapes, and on a parsed event that cannot be queued
 * (every event crosses the lanes as JSON), printing the smallest input that does it.
 */
import fc from "fast-check";
import xml, { type Element } from "@xmpp/xml";
import { parseMatrixEvent, readMatrixEvent } from "../../src/matrix/events.js";
import { fromMatrixContent, splitText, toMatrixContent } from "../../src/core/messages.js";
import { htmlToStyledText, nestedTooDeep, sanitizeMatrixHtml, stripMatrixReplyFallback, styledTextToHtml, xhtmlImToHtml } from "../../src/core/formatting.js";
import { fileOfMatrixContent } from "../../src/core/media.js";
import {
  errorCondition,
  innerXml,
  mentionedAddresses,
  parseDirectMessage,
  parseGatewayMessage,
  parseGroupMessage,
  parseModeration,
  parseOccupantPresence,
  parseRoomChange,
  parseSubject,
} from "../../src/xmpp/stanzas.js";
import { parseContactPresence, parseAvatarHash, subscriptionType } from "../../src/xmpp/presence-stanzas.js";
import { parseGatewayPresence } from "../../src/xmpp/gateway-stanzas.js";
import type { Logger } from "../../src/log.js";

function seconds(): number {
  const flag = process.argv.indexOf("--seconds");
  const value = Number(flag >= 0 ? process.argv[flag + 1] : (process.env.FUZZ_SECONDS ?? 60));
  if (!Number.isFinite(value) || value <= 0) throw new Error("the fuzzing time (FUZZ_SECONDS or --seconds) must be a positive number of seconds");
  return value;
}

// Text: anything a JSON string or an XML text may hold, and the characters parsers trip on.
const tricky = fc.constantFrom("<", ">", "&", "\"", "'", "*", "_", "~", "`", "\n", ">", "/me ", "%", "%E0", "\uD800", "\u202E", "\u200B", "\uFEFF", "\u0000", "javascript:", "mxc://", "$", "@", ":", "xmpp:");
const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: "grapheme", maxLength: 20 }), fc.string({ unit: "binary", maxLength: 20 }), fc.array(tricky, { maxLength: 12 }).map((a) => a.join("")));

// HTML: tags Matrix allows and some it does not, attributes that try things, nesting.
const tag = fc.constantFrom("b", "i", "em", "strong", "a", "p", "div", "blockquote", "pre", "code", "ul", "ol", "li", "br", "img", "span", "font", "mx-reply", "script", "style", "table", "tr", "td", "h1", "del", "details", "svg", "x-unknown");
const attr = fc.tuple(fc.constantFrom("href", "src", "onclick", "style", "data-mx-color", "color", "start", "class", "alt", "data-mx-spoiler"), text);
const { html } = fc.letrec<{ html: string }>((tie) => ({
  html: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    text,
    fc.tuple(tag, fc.array(attr, { maxLength: 3 }), fc.array(tie("html"), { maxLength: 4 }), fc.boolean()).map(
      ([name, attrs, children, closed]) => `<${name}${attrs.map(([k, v]) => ` ${k}="${v}"`).join("")}>${children.join("")}${closed ? `</${name}>` : ""}`,
    ),
  ),
}));
const deepHtml = fc.tuple(tag, fc.integer({ min: 90, max: 3000 }), text).map(([name, depth, t]) => `<${name}>`.repeat(depth) + t + `</${name}>`.repeat(depth));
const anyHtml = fc.oneof({ weight: 5, arbitrary: html }, { weight: 1, arbitrary: deepHtml });

// Matrix events: well-formed ones with fields replaced by wrong types, and anything JSON.
const wrong = fc.oneof(fc.constant(undefined), fc.constant(null), fc.integer(), fc.boolean(), text, fc.array(text, { maxLength: 2 }), fc.dictionary(text, text, { maxKeys: 2 }));
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 3, arbitrary: arb }, { weight: 1, arbitrary: wrong });
const eventId = maybe(fc.oneof(text.map((t) => `$${t}`), fc.constant("$e:hs")));
const relatesTo = fc.record(
  { rel_type: maybe(fc.constantFrom("m.replace", "m.thread", "m.annotation", "m.reference")), event_id: eventId, key: maybe(text), is_falling_back: maybe(fc.boolean()), "m.in_reply_to": maybe(fc.record({ event_id: eventId })) },
  { requiredKeys: [] },
);
const messageContent = fc.record(
  {
    msgtype: maybe(fc.constantFrom("m.text", "m.emote", "m.notice", "m.image", "m.file", "m.video", "m.audio", "org.example.poll")),
    body: maybe(text),
    format: maybe(fc.constant("org.matrix.custom.html")),
    formatted_body: maybe(anyHtml),
    url: maybe(fc.oneof(fc.constant("mxc://hs/abc"), text)),
    filename: maybe(text),
    info: maybe(fc.record({ mimetype: maybe(text), size: maybe(fc.integer()), w: maybe(fc.integer()), h: maybe(fc.integer()), duration: maybe(fc.double()) }, { requiredKeys: [] })),
    "m.mentions": maybe(fc.record({ user_ids: maybe(fc.array(text, { maxLength: 3 })) }, { requiredKeys: [] })),
    "m.relates_to": maybe(relatesTo),
  },
  { requiredKeys: [] },
);
const content = fc.oneof(
  messageContent,
  messageContent.map((c) => ({ ...c, "m.new_content": c })),
  fc.record({ membership: maybe(fc.constantFrom("invite", "join", "leave", "ban", "knock")), displayname: maybe(text), avatar_url: maybe(text), reason: maybe(text) }, { requiredKeys: [] }),
  fc.record({ topic: maybe(text), name: maybe(text), url: maybe(text), redacts: eventId, user_ids: maybe(fc.array(text)), presence: maybe(fc.constantFrom("online", "offline", "unavailable")), status_msg: maybe(text), algorithm: maybe(text) }, { requiredKeys: [] }),
  wrong,
);
const matrixEvent = fc.oneof(
  { weight: 8, arbitrary: fc.record(
    {
      type: maybe(fc.constantFrom("m.room.message", "m.sticker", "m.reaction", "m.room.redaction", "m.room.member", "m.room.topic", "m.room.name", "m.room.avatar", "m.room.encryption", "m.typing", "m.receipt", "m.presence", "org.example")),
      room_id: maybe(fc.constant("!r:hs")),
      sender: maybe(fc.constant("@a:hs")),
      event_id: eventId,
      state_key: maybe(fc.constantFrom("", "@a:hs", "@_xmpp_b=40x.test:hs")),
      redacts: eventId,
      content,
      unsigned: maybe(fc.record({ redacted_because: maybe(fc.object()), invite_room_state: maybe(fc.array(fc.record({ type: maybe(fc.constantFrom("m.room.encryption", "m.room.name")), content: wrong }, { requiredKeys: [] }), { maxLength: 3 })) }, { requiredKeys: [] })),
    },
    { requiredKeys: ["type"] },
  ) },
  { weight: 1, arbitrary: fc.jsonValue() },
  { weight: 1, arbitrary: fc.anything() },
);

// Stanzas: the elements the parsers look for, in and out of their namespaces, with hostile attributes.
const ns = fc.constantFrom(undefined, "urn:xmpp:reactions:0", "urn:xmpp:reply:0", "urn:xmpp:fallback:0", "urn:xmpp:message-correct:0", "urn:xmpp:message-retract:1", "urn:xmpp:message-retract:0", "urn:xmpp:fasten:0", "urn:xmpp:message-moderate:1", "urn:xmpp:message-moderate:0", "urn:xmpp:sid:0", "urn:xmpp:delay", "urn:xmpp:reference:0", "http://jabber.org/protocol/xhtml-im", "http://www.w3.org/1999/xhtml", "http://jabber.org/protocol/muc#user", "http://jabber.org/protocol/muc", "http://jabber.org/protocol/nick", "jabber:x:oob", "urn:xmpp:sfs:0", "urn:xmpp:file:metadata:0", "urn:xmpp:chat-markers:0", "http://jabber.org/protocol/chatstates", "urn:ietf:params:xml:ns:xmpp-stanzas", "vcard-temp:x:update", "urn:xmpp:occupant-id:0", "urn:example:unknown");
const childName = fc.constantFrom("body", "html", "reply", "fallback", "replace", "retract", "apply-to", "moderated", "moderate", "stanza-id", "origin-id", "delay", "reference", "reactions", "reaction", "x", "item", "status", "destroy", "reason", "nick", "url", "file-sharing", "file", "name", "media-type", "size", "sources", "url-data", "displayed", "composing", "active", "thread", "subject", "error", "text", "photo", "occupant-id", "span", "em");
const attrValue = fc.oneof(text, fc.constantFrom("0", "-1", "abc", "1e309", "110", "303", "307", "301", "104", "mention", "xmpp:%E0%A4%A", "xmpp:r@c/n", "r@c", "r@c/n", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "urn:xmpp:reply:0", "http://127.0.0.1/x", "unavailable", "error"));
const attrs = fc.dictionary(fc.constantFrom("id", "by", "to", "from", "jid", "nick", "role", "affiliation", "code", "type", "for", "start", "end", "begin", "uri", "stamp", "url", "var", "xmlns"), attrValue, { maxKeys: 4 });
const { element } = fc.letrec<{ element: Element | string }>((tie) => ({
  element: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    text,
    fc.tuple(childName, ns, attrs, fc.array(tie("element"), { maxLength: 4 })).map(([name, xmlns, a, children]) => xml(name, { ...a, ...(xmlns ? { xmlns } : {}) }, ...children)),
  ),
}));
const deepElement = fc.tuple(childName, fc.integer({ min: 100, max: 5000 })).map(([name, depth]) => {
  const root = xml(name, {});
  let at = root;
  for (let i = 0; i < depth; i++) {
    const child = xml(name, {});
    at.append(child);
    at = child;
  }
  return root;
});
const stanza = fc
  .tuple(fc.constantFrom("message", "presence", "iq"), fc.record({ from: maybe(fc.constantFrom("r@c/n", "r@c", "u@x/res", "u@x", "/", "@", "r@c/")), to: maybe(fc.constantFrom("a%hs@comp/x", "comp")), type: maybe(fc.constantFrom("chat", "groupchat", "error", "unavailable", "headline", "normal", "subscribe")), id: maybe(text) }, { requiredKeys: [] }), fc.array(fc.oneof({ weight: 10, arbitrary: element }, { weight: 1, arbitrary: deepElement }), { maxLength: 6 }))
  .map(([name, a, children]) => xml(name, Object.fromEntries(Object.entries(a).filter(([, v]) => typeof v === "string")) as Record<string, string>, ...children));

const silent = { warn: () => undefined, debug: () => undefined, info: () => undefined, error: () => undefined } as unknown as Logger;

/** Every parsed event is queued as JSON: it must survive the round trip. */
function queueable(value: unknown): void {
  if (value !== undefined) JSON.parse(JSON.stringify(value));
}

interface Outcome {
  failed: boolean;
  numRuns: number;
  seed: number;
  counterexamplePath: string | null;
  input: string;
  error: unknown;
}
/** A property, run for a time: fast-check's run details, without the input's type. */
function target<Ts extends unknown[]>(name: string, property: fc.IPropertyWithHooks<Ts>): { name: string; run(ms: number): Outcome } {
  return {
    name,
    run(ms) {
      const details = fc.check(property, { numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: ms, markInterruptAsFailure: false });
      return { failed: details.failed, numRuns: details.numRuns, seed: details.seed, counterexamplePath: details.counterexamplePath, input: fc.stringify(details.counterexample), error: details.errorInstance };
    },
  };
}

const targets = [
  target(
    "Matrix events (parseMatrixEvent, readMatrixEvent)",
    fc.property(matrixEvent, (raw) => {
      queueable(parseMatrixEvent(raw));
      queueable(readMatrixEvent(raw, silent));
    }),
  ),
  target(
    "Matrix content (fromMatrixContent, fileOfMatrixContent, reply fallbacks)",
    fc.property(fc.constantFrom("m.text", "m.emote", "m.image"), text, fc.option(anyHtml), (msgtype, body, formatted) => {
      const read = fromMatrixContent({ msgtype, body, ...(formatted === null ? {} : { html: formatted }) });
      if (read) toMatrixContent(read);
      fileOfMatrixContent({ msgtype, body, url: "mxc://hs/x", formatted_body: formatted, format: "org.matrix.custom.html" });
      stripMatrixReplyFallback({ body, ...(formatted === null ? {} : { formatted_body: formatted }) });
    }),
  ),
  target(
    "formatting (sanitize, styled text, XHTML-IM, XEP-0393)",
    fc.property(anyHtml, text, (h, t) => {
      htmlToStyledText(sanitizeMatrixHtml(h));
      nestedTooDeep(h);
      xhtmlImToHtml(h);
      const styled = styledTextToHtml(t + h);
      if (styled !== undefined) htmlToStyledText(styled);
      const long = t.repeat(50) + h;
      if (splitText(long, 64).join("") !== long) throw new Error("the parts are not the text");
    }),
  ),
  target(
    "stanzas (every parse* of src/xmpp)",
    fc.property(stanza, (s) => {
      queueable(parseDirectMessage(s, "@a:hs"));
      queueable(parseGroupMessage(s));
      queueable(parseGatewayMessage(s, "room@comp"));
      queueable(parseSubject(s));
      queueable(parseOccupantPresence(s));
      queueable(parseRoomChange(s));
      queueable(parseModeration(s));
      queueable(parseContactPresence(s));
      queueable(parseGatewayPresence(s));
      errorCondition(s);
      mentionedAddresses(s);
      subscriptionType(s);
      parseAvatarHash(s);
      innerXml(s);
    }),
  ),
];

const budgetMs = (seconds() * 1000) / targets.length;
let failed = false;
for (const { name, run } of targets) {
  const started = Date.now();
  const outcome = run(budgetMs);
  const took = ((Date.now() - started) / 1000).toFixed(1);
  if (outcome.failed) {
    failed = true;
    console.log(`✖ ${name}: failed after ${outcome.numRuns} inputs (${took} s), seed ${outcome.seed}, path ${outcome.counterexamplePath}`);
    console.log(`  input: ${outcome.input.slice(0, 2000)}`);
    console.log(`  ${String((outcome.error as Error | undefined)?.stack ?? outcome.error).split("\n").slice(0, 8).join("\n  ")}`);
  } else {
    console.log(`✔ ${name}: ${outcome.numRuns} inputs in ${took} s`);
  }
}
process.exitCode = failed ? 1 : 0;
