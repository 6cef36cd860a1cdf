import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { MAX_NICK_BYTES, puppetNick, resourceprep } from "../../src/core/nick.js";

describe("puppets' MUC nicks from display names", () => {
  it("keeps ordinary names as they are", () => {
    for (const name of ["Max", "Ana María", "李小龙", "Ζωή", "محمد", "D'Artagnan & co <3", "🦊 fox"]) assert.equal(puppetNick(name, "max"), name);
  });

  it("drops what resourceprep prohibits and maps what it maps", () => {
    assert.equal(puppetNick("Ma\u0001x\u0007", "max"), "Max");
    assert.equal(puppetNick("bad\uFFFE\uFFFFname\uD800", "max"), "badname");
    assert.equal(puppetNick("private\uE000use", "max"), "privateuse");
    assert.equal(puppetNick("no\u00A0break  space\t", "max"), "no break space");
    assert.equal(puppetNick("\u200Bzero width", "max"), "zero width");
    assert.equal(puppetNick("ﬁne", "max"), "fine", "NFKC, as the server will apply it");
    assert.equal(puppetNick("rtl\u202Eoverride", "max"), "rtloverride");
  });

  it("keeps right-to-left names within the bidi rule, else falls back to the localpart", () => {
    assert.equal(puppetNick("محمد 2", "mo"), "محمد", "a right-to-left name must end with a right-to-left letter");
    assert.equal(puppetNick("עברית abc", "dana"), "עברית", "left-to-right ends give way");
    assert.equal(puppetNick("עב abc רית", "dana"), "dana", "both directions cannot be one nick");
    assert.equal(puppetNick("\u0001\u0002", "max"), "max");
    assert.equal(puppetNick("   ", "max"), "max");
  });

  it("holds JID length limits", () => {
    const nick = puppetNick("é".repeat(2000), "max");
    assert.ok(Buffer.byteLength(nick) <= MAX_NICK_BYTES);
    assert.equal(resourceprep(nick), nick);
  });

  it("whatever the display name, the nick is one resourceprep leaves unchanged", () => {
    const anyName = fc.oneof(fc.string({ unit: "binary" }), fc.array(fc.integer({ min: 0, max: 0xffff })).map((u) => String.fromCharCode(...u)));
    fc.assert(
      fc.property(anyName, (name) => {
        const nick = puppetNick(name, "max");
        assert.ok(nick.length > 0);
        assert.equal(resourceprep(nick), nick);
        assert.ok(Buffer.byteLength(nick) <= MAX_NICK_BYTES);
      }),
      { numRuns: 200 },
    );
  });
});
