import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import xml from "@xmpp/xml";
import { SaxesParser } from "saxes";
import { xmlSafe } from "../../src/xmpp/xml-guard.js";

/** Parses a document with a strict XML 1.0 parser; returns the text and attribute values it read. */
function strictParse(document: string): { text: string; attrs: Record<string, string> } {
  const parser = new SaxesParser();
  let text = "";
  let attrs: Record<string, string> = {};
  parser.on("error", (err) => {
    throw err;
  });
  parser.on("text", (t) => (text += t));
  parser.on("opentag", (tag) => {
    if (tag.name === "body") return;
    attrs = tag.attributes as Record<string, string>;
  });
  parser.write(document).close();
  return { text, attrs };
}

/** Any sequence of UTF-16 code units: C0 controls, U+FFFE/U+FFFF and lone surrogates included. */
const anyCodeUnits = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 }).map((units) => String.fromCharCode(...units));
const anyText = fc.oneof(anyCodeUnits, fc.string({ unit: "binary" }), fc.string());

describe("the XML guard on everything written to the component stream", () => {
  it("removes what XML 1.0 forbids and turns lone surrogates into U+FFFD", () => {
    assert.equal(xmlSafe("a\u0001b\u0007c\u0000d"), "abcd");
    assert.equal(xmlSafe("tab\tnl\ncr\r"), "tab\tnl\ncr\r");
    assert.equal(xmlSafe("x\uFFFEy\uFFFFz"), "xyz");
    assert.equal(xmlSafe("lone \uD800 high, lone \uDC00 low"), "lone \uFFFD high, lone \uFFFD low");
    assert.equal(xmlSafe("pair \uD83D\uDE00 kept"), "pair \uD83D\uDE00 kept");
    assert.equal(xmlSafe("\uDE00\uD83D"), "\uFFFD\uFFFD");
  });

  it("leaves text XML allows as it is", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), (s) => {
        const allowed = s.replace(/[\0-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/g, "");
        assert.equal(xmlSafe(allowed), allowed);
      }),
    );
  });

  it("whatever a stanza carries, what is written parses as XML and says what was meant", () => {
    fc.assert(
      fc.property(anyText, anyText, (body, nick) => {
        const stanza = xml("message", { to: `room@muc.example/${nick}`, id: body }, xml("body", {}, body));
        const parsed = strictParse(xmlSafe(stanza.toString()));
        // XML reads every line break as LF, and every white space in an attribute as a space (XML 1.0 §2.11, §3.3.3).
        const lines = (s: string): string => xmlSafe(s).replace(/\r\n?/g, "\n");
        assert.equal(parsed.text, lines(body));
        assert.equal(parsed.attrs.to, `room@muc.example/${lines(nick).replace(/[\t\n]/g, " ")}`);
      }),
      { numRuns: 500 },
    );
  });
});
