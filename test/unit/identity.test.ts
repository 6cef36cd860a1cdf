import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  AddressError,
  type AddressingConfig,
  decodeMatrixLocalpart,
  encodeMatrixLocalpart,
  escapeJidLocalpart,
  gatewayRoomJid,
  ghostUserId,
  isGhost,
  isPuppet,
  jidLocalpart,
  jidOfGhost,
  matrixLocalpart,
  mucOfPortalAlias,
  occupantGhostUserId,
  parseBareJid,
  parseMatrixUserId,
  portalAlias,
  roomRefOfGatewayJid,
  puppetJid,
  splitJid,
  unescapeJidLocalpart,
  userIdOfPuppet,
} from "../../src/core/identity.js";

const cfg: AddressingConfig = {
  homeserverDomain: "matrix.test",
  componentDomain: "matrix.xmpp.test",
  userPrefix: "_xmpp_",
  aliasPrefix: "_xmpp_",
};

const NUM_RUNS = 500;

function throwsAddressError(fn: () => unknown, input: string, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof AddressError, `expected AddressError, got ${String(err)}`);
    assert.equal(err.input, input);
    if (message) assert.match(err.message, message);
    return true;
  });
}

const utf8Length = (s: string): number => new TextEncoder().encode(s).length;

// ---------------------------------------------------------------------------------------------
// Arbitraries.

const anyString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  // Lone surrogates, which no well-formed path accepts.
  fc.string({ unit: fc.constantFrom("\uD800", "\uDFFF", "a", "@", "%"), maxLength: 10 }),
);

const asciiPrintable = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i));
const historicalLocalpart = fc.string({
  unit: fc.constantFrom(...asciiPrintable.filter((c) => c !== ":")),
  minLength: 1,
  maxLength: 30,
});
const currentLocalpart = fc.string({
  unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789._=-/+"),
  minLength: 1,
  maxLength: 30,
});
const randomCase = (s: string) =>
  fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }).map((flags) =>
    [...s].map((c, i) => (flags[i] ? c.toUpperCase() : c)).join(""),
  );
const hostname = fc.oneof(
  fc.domain().chain(randomCase),
  fc.ipV4(),
  fc.ipV6().map((ip) => `[${ip}]`),
);
const serverName = fc
  .tuple(hostname, fc.option(fc.integer({ min: 1, max: 99999 }), { nil: undefined }))
  .map(([host, port]) => (port === undefined ? host : `${host}:${port}`));
const matrixUserId = fc
  .tuple(fc.oneof(currentLocalpart, historicalLocalpart), serverName)
  .map(([local, server]) => `@${local}:${server}`)
  .filter((id) => id.length <= 255 && !isGhost(id, cfg));

const jidLocal = fc
  .oneof(
    fc.string({ minLength: 1, maxLength: 20 }),
    fc.string({ unit: "binary", minLength: 1, maxLength: 12 }),
    fc.string({ unit: "grapheme", minLength: 1, maxLength: 8 }),
    fc.string({ unit: fc.constantFrom("_", "=", "\\", "2", "0", "a", "B", "%", "^"), minLength: 1, maxLength: 12 }),
  )
  .filter((local) => {
    try {
      return parseBareJid(`${local}@x.test`).local === local;
    } catch {
      return false;
    }
  });
const jidDomain = fc.oneof(fc.domain().chain(randomCase), fc.ipV4(), fc.ipV6().map((ip) => `[${ip}]`));
const bareJid = fc
  .tuple(fc.option(jidLocal, { nil: undefined }), jidDomain)
  .map(([local, domain]) => (local === undefined ? domain : `${local}@${domain}`))
  .filter((jid) => parseBareJid(jid).domain.toLowerCase() !== cfg.componentDomain);
const roomJid = fc
  .tuple(jidLocal, jidDomain)
  .map(([local, domain]) => `${local}@${domain}`)
  .filter((jid) => parseBareJid(jid).domain.toLowerCase() !== cfg.componentDomain);

/** Runs fn, treating an AddressError about a Matrix ID over 255 bytes as "input too long to map". */
function unlessTooLong<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (err instanceof AddressError && /exceed 255 bytes/.test(err.message)) return undefined;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------

describe("encodeMatrixLocalpart / decodeMatrixLocalpart", () => {
  const vectors: [string, string][] = [
    ["bob@xmpp.test", "bob=40xmpp.test"],
    ["a_b@x", "a__b=40x"],
    ["élan@x", "=c3=a9lan=40x"],
    ["Bob", "_bob"],
    ["a=b", "a=3db"],
    ["a+b", "a=2bb"],
    ["a b", "a=20b"],
    ["😀", "=f0=9f=98=80"],
    ["\\20", "=5c20"],
    ["keep.these-/chars09", "keep.these-/chars09"],
    ["\uFEFF", "=ef=bb=bf"],
    ["", ""],
  ];
  for (const [plain, encoded] of vectors) {
    it(`maps ${JSON.stringify(plain)} <-> ${JSON.stringify(encoded)}`, () => {
      assert.equal(encodeMatrixLocalpart(plain), encoded);
      assert.equal(decodeMatrixLocalpart(encoded), plain);
    });
  }

  it("rejects malformed and non-canonical encodings", () => {
    for (const bad of ["=4", "=zz", "=C3=A9", "=41", "=61", "=5f", "_", "_1", "_A", "A", "a b", "=c3", "=ed=a0=80", "=c0=80", "a:b", "\uD800"]) {
      throwsAddressError(() => decodeMatrixLocalpart(bad), bad);
    }
  });

  it("rejects lone surrogates, which UTF-8 cannot carry", () => {
    throwsAddressError(() => encodeMatrixLocalpart("a\uD800"), "a\uD800");
  });

  it("round-trips every well-formed string and emits only [a-z0-9._=/-]", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.string({ unit: "grapheme" })), (s) => {
        const encoded = encodeMatrixLocalpart(s);
        assert.match(encoded, /^[a-z0-9._=/-]*$/);
        assert.equal(decodeMatrixLocalpart(encoded), s);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("decodes only canonical encodings (one spelling per string)", () => {
    const encodingish = fc.string({ unit: fc.constantFrom(..."a_z=09cfdA/.-e3"), maxLength: 16 });
    fc.assert(
      fc.property(encodingish, (t) => {
        let decoded: string;
        try {
          decoded = decodeMatrixLocalpart(t);
        } catch (err) {
          assert.ok(err instanceof AddressError);
          return;
        }
        assert.equal(encodeMatrixLocalpart(decoded), t);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe("escapeJidLocalpart / unescapeJidLocalpart (XEP-0106)", () => {
  // The examples table of XEP-0106.
  const vectors: [string, string][] = [
    ["space cadet", "space\\20cadet"],
    ['call me "ishmael"', "call\\20me\\20\\22ishmael\\22"],
    ["at&t guy", "at\\26t\\20guy"],
    ["d'artagnan", "d\\27artagnan"],
    ["/.fanboy", "\\2f.fanboy"],
    ["::foo::", "\\3a\\3afoo\\3a\\3a"],
    ["<foo>", "\\3cfoo\\3e"],
    ["user@host", "user\\40host"],
    ["c:\\net", "c\\3a\\net"],
    ["c:\\\\net", "c\\3a\\\\net"],
    ["c:\\cool stuff", "c\\3a\\cool\\20stuff"],
    ["c:\\5commas", "c\\3a\\5c5commas"],
    ["\\20", "\\5c20"],
    ["\\", "\\"],
    ["\\5C", "\\5C"],
    ["résumé", "résumé"],
  ];
  for (const [plain, escaped] of vectors) {
    it(`maps ${JSON.stringify(plain)} <-> ${JSON.stringify(escaped)}`, () => {
      assert.equal(escapeJidLocalpart(plain), escaped);
      assert.equal(unescapeJidLocalpart(escaped), plain);
    });
  }

  it("refuses a leading or trailing space", () => {
    throwsAddressError(() => escapeJidLocalpart(" bob"), " bob");
    throwsAddressError(() => escapeJidLocalpart("bob "), "bob ");
  });

  it("round-trips and never emits a forbidden localpart character", () => {
    const text = fc.oneof(
      fc.string(),
      fc.string({ unit: "binary" }),
      fc.string({ unit: fc.constantFrom("\\", "2", "0", "5", "c", "3", "a", " ", "@", "/", "x"), maxLength: 16 }),
    );
    fc.assert(
      fc.property(text, (s) => {
        fc.pre(!s.startsWith(" ") && !s.endsWith(" "));
        const escaped = escapeJidLocalpart(s);
        assert.doesNotMatch(escaped, /["&'/:<>@ ]/);
        assert.equal(unescapeJidLocalpart(escaped), s);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("unescapes any string without throwing", () => {
    fc.assert(fc.property(anyString, (s) => void unescapeJidLocalpart(s)), { numRuns: NUM_RUNS });
  });
});

describe("parseMatrixUserId", () => {
  it("splits at the first colon, keeping a port in the server name", () => {
    assert.deepEqual(parseMatrixUserId("@alice:matrix.test"), { localpart: "alice", server: "matrix.test" });
    assert.deepEqual(parseMatrixUserId("@bob:example.org:8448"), { localpart: "bob", server: "example.org:8448" });
    assert.deepEqual(parseMatrixUserId("@bob:[::1]:8448"), { localpart: "bob", server: "[::1]:8448" });
    assert.deepEqual(parseMatrixUserId("@Alice%x@y!:1.2.3.4"), { localpart: "Alice%x@y!", server: "1.2.3.4" });
  });

  it("rejects what is not a user ID", () => {
    const bad = [
      "alice:matrix.test",
      "@:matrix.test",
      "@alice",
      "@alice:",
      "@al ice:matrix.test",
      "@élan:matrix.test",
      "@alice:exa mple.org",
      "@alice:example.org:",
      "@alice:example.org:123456",
      "@alice:[zz]",
      "@alice:ex%ample.org",
      `@${"a".repeat(250)}:matrix.test`,
      "",
    ];
    for (const id of bad) throwsAddressError(() => parseMatrixUserId(id), id);
  });
});

describe("unchecked cuts", () => {
  it("splitJid lowercases the bare part and keeps the resource as written", () => {
    assert.deepEqual(splitJid("Bob@XMPP.test/Phone/2"), { bare: "bob@xmpp.test", resource: "Phone/2" });
    assert.deepEqual(splitJid("xmpp.test"), { bare: "xmpp.test", resource: undefined });
  });
  it("localparts of JIDs and Matrix user IDs", () => {
    assert.equal(jidLocalpart("bob@xmpp.test/phone"), "bob");
    assert.equal(jidLocalpart("xmpp.test"), "xmpp.test");
    assert.equal(matrixLocalpart("@alice:matrix.test"), "alice");
  });
});

describe("parseBareJid", () => {
  it("splits per RFC 7622", () => {
    assert.deepEqual(parseBareJid("bob@xmpp.test"), { local: "bob", domain: "xmpp.test", resource: undefined });
    assert.deepEqual(parseBareJid("xmpp.test"), { local: undefined, domain: "xmpp.test", resource: undefined });
    assert.deepEqual(parseBareJid("bob@xmpp.test/phone/with@slash"), {
      local: "bob",
      domain: "xmpp.test",
      resource: "phone/with@slash",
    });
    assert.deepEqual(parseBareJid("room@conf.xmpp.test/Bob Smith"), {
      local: "room",
      domain: "conf.xmpp.test",
      resource: "Bob Smith",
    });
    assert.deepEqual(parseBareJid("a@[::1]"), { local: "a", domain: "[::1]", resource: undefined });
    assert.deepEqual(parseBareJid("élan@münchen.de").domain, "münchen.de");
    assert.equal(parseBareJid(`${"a".repeat(1023)}@x.test`).local?.length, 1023);
  });

  it("rejects malformed JIDs", () => {
    const bad = [
      "",
      "@xmpp.test",
      "bob@",
      "bob@xmpp.test/",
      "bo b@xmpp.test",
      'a"b@xmpp.test',
      "a&b@xmpp.test",
      "a'b@xmpp.test",
      "a<b@xmpp.test",
      "a>b@xmpp.test",
      "a:b@xmpp.test",
      "a\u3000b@xmpp.test",
      "a\u0007b@xmpp.test",
      "a\uD800@xmpp.test",
      "x..test",
      ".xmpp.test",
      "xmpp.test.",
      "a@[::1]:5222",
      "a@xm pp.test",
      "a@xmpp_test",
      `${"a".repeat(1024)}@x.test`,
      `${"é".repeat(512)}@x.test`,
      `a@x.test/${"r".repeat(1024)}`,
    ];
    for (const jid of bad) throwsAddressError(() => parseBareJid(jid), jid);
  });

  it("either parses or throws AddressError on any string", () => {
    fc.assert(
      fc.property(anyString, (s) => {
        try {
          parseBareJid(s);
        } catch (err) {
          assert.ok(err instanceof AddressError);
          assert.equal(err.input, s);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe("ghosts (XMPP user -> Matrix user)", () => {
  it("maps the documented examples", () => {
    assert.equal(ghostUserId("bob@xmpp.test", cfg), "@_xmpp_bob=40xmpp.test:matrix.test");
    assert.equal(ghostUserId("Bob@XMPP.Test", cfg), "@_xmpp_bob=40xmpp.test:matrix.test");
    assert.equal(ghostUserId("a_b@x", cfg), "@_xmpp_a__b=40x:matrix.test");
    assert.equal(ghostUserId("élan@x", cfg), "@_xmpp_=c3=a9lan=40x:matrix.test");
    assert.equal(ghostUserId("a=b@x", cfg), "@_xmpp_a=3db=40x:matrix.test");
    assert.equal(ghostUserId("😀@x", cfg), "@_xmpp_=f0=9f=98=80=40x:matrix.test");
    assert.equal(ghostUserId("space\\20cadet@x", cfg), "@_xmpp_space=5c20cadet=40x:matrix.test");
    assert.equal(ghostUserId("xmpp.test", cfg), "@_xmpp_xmpp.test:matrix.test");
    assert.equal(ghostUserId("bob@[::1]", cfg), "@_xmpp_bob=40=5b=3a=3a1=5d:matrix.test");
  });

  it("inverts the examples", () => {
    assert.equal(jidOfGhost("@_xmpp_bob=40xmpp.test:matrix.test", cfg), "bob@xmpp.test");
    assert.equal(jidOfGhost("@_xmpp_=c3=a9lan=40x:matrix.test", cfg), "élan@x");
    assert.equal(jidOfGhost("@_xmpp_xmpp.test:matrix.test", cfg), "xmpp.test");
  });

  it("rejects what is not one of this bridge's ghosts", () => {
    const notGhosts = [
      "@alice:matrix.test",
      "@_xmpp_bob=40xmpp.test:other.test",
      "@_xmpp__bob=40xmpp.test:matrix.test", // uppercase: never produced, JIDs are lowercased
      "@_xmpp_bob=40XMPP.test:matrix.test",
      "@_xmpp_=zz:matrix.test",
      "@_xmpp_=41:matrix.test",
      "@_xmpp_:matrix.test",
      "@_xmpp_bob=40:matrix.test",
      "@_xmpp_bob=40xmpp.test=2fres:matrix.test", // a full JID
      "@_xmpp_alice=25matrix.test=40matrix.xmpp.test:matrix.test", // a puppet
      "_xmpp_bob=40xmpp.test:matrix.test",
      "",
    ];
    for (const id of notGhosts) assert.equal(jidOfGhost(id, cfg), undefined, id);
  });

  it("isGhost covers the whole reserved namespace", () => {
    assert.equal(isGhost("@_xmpp_bob=40xmpp.test:matrix.test", cfg), true);
    assert.equal(isGhost("@_xmpp_=zz:matrix.test", cfg), true);
    assert.equal(isGhost("@_xmpp_bob=40xmpp.test:other.test", cfg), false);
    assert.equal(isGhost("@alice:matrix.test", cfg), false);
    assert.equal(isGhost("not an id", cfg), false);
  });

  it("never ghosts a puppet or the bridge's own domain (no echo)", () => {
    for (const jid of ["alice%matrix.test@matrix.xmpp.test", "x@MATRIX.XMPP.TEST", "matrix.xmpp.test"]) {
      throwsAddressError(() => ghostUserId(jid, cfg), jid, /would bridge a puppet back/);
    }
  });

  it("rejects full JIDs, malformed JIDs and IDs over 255 bytes", () => {
    for (const jid of ["bob@xmpp.test/phone", "bob@", "bo b@xmpp.test", `${"a".repeat(240)}@xmpp.test`]) {
      throwsAddressError(() => ghostUserId(jid, cfg), jid);
    }
    const longest = `${"a".repeat(255 - "@_xmpp_=40x.test:matrix.test".length)}@x.test`;
    assert.equal(ghostUserId(longest, cfg).length, 255);
  });

  it("round-trips every bare JID and yields valid localparts", () => {
    fc.assert(
      fc.property(bareJid, (jid) => {
        const ghost = unlessTooLong(() => ghostUserId(jid, cfg));
        if (ghost === undefined) return;
        const { localpart, server } = parseMatrixUserId(ghost);
        assert.match(localpart, /^[a-z0-9._=/-]+$/);
        assert.equal(server, cfg.homeserverDomain);
        assert.equal(isGhost(ghost, cfg), true);
        assert.equal(jidOfGhost(ghost, cfg), jid.toLowerCase());
        assert.equal(ghostUserId(jid.toLowerCase(), cfg), ghost);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("the inverse never throws and only accepts exact ghost IDs", () => {
    const candidates = fc.oneof(
      anyString,
      anyString.map((s) => `@_xmpp_${s}:matrix.test`),
      fc.string({ unit: fc.constantFrom(..."ab_=40.x"), maxLength: 16 }).map((s) => `@_xmpp_${s}:matrix.test`),
    );
    fc.assert(
      fc.property(candidates, (id) => {
        const jid = jidOfGhost(id, cfg);
        if (jid !== undefined) assert.equal(ghostUserId(jid, cfg), id);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe("puppets (Matrix user -> XMPP user)", () => {
  const examples: [string, string][] = [
    ["@alice:matrix.test", "alice%matrix.test@matrix.xmpp.test"],
    ["@alice_b:matrix.test", "alice_b%matrix.test@matrix.xmpp.test"],
    ["@a.b-c=d/e+f:matrix.test", "a.b-c=d\\2fe+f%matrix.test@matrix.xmpp.test"],
    ["@bob:example.org:8448", "bob%example.org\\3a8448@matrix.xmpp.test"],
    ["@bob:[::1]:8448", "bob%[\\3a\\3a1]\\3a8448@matrix.xmpp.test"],
    ["@bob:[2001:DB8::1]", "bob%[2001\\3a^d^b8\\3a\\3a1]@matrix.xmpp.test"],
    ["@Alice:example.org", "^alice%example.org@matrix.xmpp.test"],
    ["@bob:Example.ORG", "bob%^example.^o^r^g@matrix.xmpp.test"],
    ["@x^y:matrix.test", "x^^y%matrix.test@matrix.xmpp.test"],
    ["@a%b:matrix.test", "a%b%matrix.test@matrix.xmpp.test"],
    ["@o'neil&co:matrix.test", "o\\27neil\\26co%matrix.test@matrix.xmpp.test"],
    ['@"<x>"@y:matrix.test', "\\22\\3cx\\3e\\22\\40y%matrix.test@matrix.xmpp.test"],
    ["@c\\3a:matrix.test", "c\\5c3a%matrix.test@matrix.xmpp.test"],
    ["@c\\net:matrix.test", "c\\net%matrix.test@matrix.xmpp.test"],
    ["@\\61lice:matrix.test", "\\61lice%matrix.test@matrix.xmpp.test"],
    ["@_xmpp_bob=40xmpp.test:other.test", "_xmpp_bob=40xmpp.test%other.test@matrix.xmpp.test"],
  ];
  for (const [userId, jid] of examples) {
    it(`maps ${userId} <-> ${jid}`, () => {
      assert.equal(puppetJid(userId, cfg), jid);
      assert.equal(userIdOfPuppet(jid, cfg), userId);
    });
  }

  it("accepts full JIDs and any letter case on the XMPP side", () => {
    assert.equal(userIdOfPuppet("alice%matrix.test@matrix.xmpp.test/phone", cfg), "@alice:matrix.test");
    assert.equal(userIdOfPuppet("ALICE%MATRIX.TEST@Matrix.XMPP.Test", cfg), "@alice:matrix.test");
    assert.equal(userIdOfPuppet("^Alice%example.org@matrix.xmpp.test", cfg), "@Alice:example.org");
    assert.equal(userIdOfPuppet("bob%example.org\\3A8448@matrix.xmpp.test", cfg), "@bob:example.org:8448");
  });

  it("rejects what is not one of this bridge's puppets", () => {
    const notPuppets = [
      "matrix.xmpp.test", // the component itself
      "alice@matrix.xmpp.test", // no server
      "%matrix.test@matrix.xmpp.test", // empty localpart
      "alice%@matrix.xmpp.test", // empty server
      "alice%matrix.test@xmpp.test", // another domain
      "alice%matrix.test@sub.matrix.xmpp.test",
      "^%matrix.test@matrix.xmpp.test", // dangling fold marker
      "^1%matrix.test@matrix.xmpp.test",
      "al ice%matrix.test@matrix.xmpp.test",
      "alice%matrix.test\\3a@matrix.xmpp.test", // empty port
      "alice%exa\\20mple.org@matrix.xmpp.test",
      "\\5cx%matrix.test@matrix.xmpp.test", // non-canonical escape
      "_xmpp_bob=40xmpp.test%matrix.test@matrix.xmpp.test", // a ghost
      "élan%matrix.test@matrix.xmpp.test",
      "",
    ];
    for (const jid of notPuppets) assert.equal(userIdOfPuppet(jid, cfg), undefined, jid);
  });

  it("isPuppet covers every addressable JID on the component domain", () => {
    assert.equal(isPuppet("alice%matrix.test@matrix.xmpp.test", cfg), true);
    assert.equal(isPuppet("garbage@Matrix.Xmpp.Test/res", cfg), true);
    assert.equal(isPuppet("matrix.xmpp.test", cfg), false);
    assert.equal(isPuppet("alice%matrix.test@xmpp.test", cfg), false);
    assert.equal(isPuppet("not a jid@@", cfg), false);
  });

  it("never puppets a ghost (no echo)", () => {
    for (const id of ["@_xmpp_bob=40xmpp.test:matrix.test", "@_xmpp_garbage:matrix.test"]) {
      throwsAddressError(() => puppetJid(id, cfg), id, /would bridge a ghost back/);
    }
  });

  it("rejects invalid user IDs", () => {
    for (const id of ["alice", "@alice", "@al ice:matrix.test", "@alice:bad host", `@${"a".repeat(250)}:matrix.test`]) {
      throwsAddressError(() => puppetJid(id, cfg), id);
    }
  });

  it("keeps the longest possible user ID far below the 1023-byte localpart limit", () => {
    const userId = `@${"@".repeat(255 - 3)}:x`;
    const jid = puppetJid(userId, cfg);
    assert.ok(utf8Length(parseBareJid(jid).local ?? "") <= 1023);
    assert.equal(userIdOfPuppet(jid, cfg), userId);
  });

  it("round-trips every user ID (but those that would read as a gateway room) and yields valid, nodeprep-stable localparts", () => {
    fc.assert(
      fc.property(matrixUserId.filter((u) => !/^@[#!]/.test(u)), fc.option(fc.string({ minLength: 1, maxLength: 10 }), { nil: undefined }), (userId, resource) => {
        const jid = puppetJid(userId, cfg);
        const { local, domain, resource: none } = parseBareJid(jid);
        assert.equal(none, undefined);
        assert.equal(domain, cfg.componentDomain);
        assert.ok(local !== undefined);
        assert.doesNotMatch(local, /["&'/:<>@\sA-Z]/);
        assert.equal(local, local.toLowerCase());
        assert.equal(local, local.normalize("NFKC"));
        assert.equal(isPuppet(jid, cfg), true);
        assert.equal(userIdOfPuppet(jid, cfg), userId);
        assert.equal(userIdOfPuppet(jid.toUpperCase(), cfg), userId);
        if (resource !== undefined && !/[\u0000-\u001f\u007f]/.test(resource)) {
          assert.equal(userIdOfPuppet(`${jid}/${resource}`, cfg), userId);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("the inverse never throws and only accepts exact puppet JIDs", () => {
    const candidates = fc.oneof(
      anyString,
      anyString.map((s) => `${s}@matrix.xmpp.test`),
      fc
        .string({ unit: fc.constantFrom(..."a^%\\3a20:.Ab@5c"), minLength: 1, maxLength: 16 })
        .map((s) => `${s}@matrix.xmpp.test`),
    );
    fc.assert(
      fc.property(candidates, (jid) => {
        const userId = userIdOfPuppet(jid, cfg);
        if (userId === undefined) return;
        const { local, domain } = parseBareJid(jid);
        assert.equal(puppetJid(userId, cfg), `${local?.toLowerCase()}@${domain.toLowerCase()}`);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe("portals (MUC <-> Matrix room alias)", () => {
  it("maps the documented examples", () => {
    assert.equal(portalAlias("room@conference.xmpp.test", cfg), "#_xmpp_room=40conference.xmpp.test:matrix.test");
    assert.equal(portalAlias("Room@Conference.XMPP.test", cfg), "#_xmpp_room=40conference.xmpp.test:matrix.test");
    assert.equal(portalAlias("chez_élan@muc.x", cfg), "#_xmpp_chez__=c3=a9lan=40muc.x:matrix.test");
  });

  it("accepts both alias forms", () => {
    assert.equal(mucOfPortalAlias("#_xmpp_room=40conference.xmpp.test:matrix.test", cfg), "room@conference.xmpp.test");
    assert.equal(mucOfPortalAlias("#_xmpp_room@conference.xmpp.test:matrix.test", cfg), "room@conference.xmpp.test");
    assert.equal(mucOfPortalAlias("#_xmpp_Room@Conference.xmpp.test:matrix.test", cfg), "room@conference.xmpp.test");
    assert.equal(mucOfPortalAlias("#_xmpp_a_b=c@muc.x:matrix.test", cfg), "a_b=c@muc.x");
    assert.equal(mucOfPortalAlias("#_xmpp_chez_élan@muc.x:matrix.test", cfg), "chez_élan@muc.x");
    assert.equal(mucOfPortalAlias("#_xmpp_chez__=c3=a9lan=40muc.x:matrix.test", cfg), "chez_élan@muc.x");
    assert.equal(mucOfPortalAlias("#_xmpp_a__b=3dc=40muc.x:matrix.test", cfg), "a_b=c@muc.x");
  });

  it("rejects what is not one of this bridge's portals", () => {
    const notPortals = [
      "#_xmpp_room=40conference.xmpp.test:other.test",
      "#room=40conference.xmpp.test:matrix.test",
      "!_xmpp_room=40conference.xmpp.test:matrix.test",
      "#_xmpp_conference.xmpp.test:matrix.test", // a server, not a room
      "#_xmpp_room@conference.xmpp.test/nick:matrix.test", // an occupant
      "#_xmpp_room=40conference.xmpp.test=2fnick:matrix.test",
      "#_xmpp_room@matrix.xmpp.test:matrix.test", // the bridge's own domain
      "#_xmpp_room=40matrix.xmpp.test:matrix.test",
      "#_xmpp__room=40conference.xmpp.test:matrix.test", // uppercase, never produced
      "#_xmpp_ro om@conference.xmpp.test:matrix.test",
      "#_xmpp_room=zz:matrix.test",
      "#_xmpp_@conference.xmpp.test:matrix.test",
      "#_xmpp_room=40conference.xmpp.test",
      "",
    ];
    for (const alias of notPortals) assert.equal(mucOfPortalAlias(alias, cfg), undefined, alias);
  });

  it("refuses occupants, servers, the component domain and aliases over 255 bytes", () => {
    for (const jid of ["room@conference.xmpp.test/nick", "conference.xmpp.test", "room@matrix.xmpp.test", `${"r".repeat(240)}@muc.x`]) {
      throwsAddressError(() => portalAlias(jid, cfg), jid);
    }
  });

  it("round-trips every room JID in both forms", () => {
    fc.assert(
      fc.property(roomJid, (jid) => {
        const alias = unlessTooLong(() => portalAlias(jid, cfg));
        if (alias === undefined) return;
        const room = jid.toLowerCase();
        assert.match(alias.slice(1, alias.indexOf(":")), /^[a-z0-9._=/-]+$/);
        assert.equal(mucOfPortalAlias(alias, cfg), room);
        if (!room.includes(":")) assert.equal(mucOfPortalAlias(`#_xmpp_${jid}:matrix.test`, cfg), room);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("the inverse never throws and answers only with mappable rooms", () => {
    const candidates = fc.oneof(
      anyString,
      anyString.map((s) => `#_xmpp_${s}:matrix.test`),
      fc.string({ unit: fc.constantFrom(..."ab_=40.x@/"), maxLength: 16 }).map((s) => `#_xmpp_${s}:matrix.test`),
    );
    fc.assert(
      fc.property(candidates, (alias) => {
        const room = mucOfPortalAlias(alias, cfg);
        if (room === undefined) return;
        const canonical = portalAlias(room, cfg);
        if (!alias.includes("@")) assert.equal(canonical, alias);
        assert.equal(mucOfPortalAlias(canonical, cfg), room);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe("occupantGhostUserId", () => {
  const cfg = { homeserverDomain: "matrix.test", componentDomain: "matrix.xmpp.test", userPrefix: "_xmpp_", aliasPrefix: "_xmpp_" };
  it("keys anonymous occupants by room and occupant key, keeping the key's case reversibly", () => {
    assert.equal(occupantGhostUserId("Room@conference.xmpp.test", "Bob", cfg), "@_xmpp_room=40conference.xmpp.test/_bob:matrix.test");
    assert.notEqual(occupantGhostUserId("r@c.test", "AbC", cfg), occupantGhostUserId("r@c.test", "abc", cfg));
  });
  it("is a ghost, never a real JID's ghost", () => {
    const id = occupantGhostUserId("r@c.test", "x", cfg);
    assert.ok(isGhost(id, cfg));
    assert.equal(jidOfGhost(id, cfg), undefined);
  });
  it("keys a nick too long for a Matrix ID by its digest: one ghost per nick, within 255 bytes", () => {
    const long = "N".repeat(1000);
    const id = occupantGhostUserId("r@c.test", long, cfg);
    assert.ok(new TextEncoder().encode(id).length <= 255);
    assert.equal(occupantGhostUserId("r@c.test", long, cfg), id);
    assert.notEqual(occupantGhostUserId("r@c.test", `${long}x`, cfg), id);
    assert.ok(isGhost(id, cfg));
  });
  it("refuses puppets' rooms and empty keys", () => {
    assert.throws(() => occupantGhostUserId("r@matrix.xmpp.test", "x", cfg), AddressError);
    assert.throws(() => occupantGhostUserId("r@c.test", "", cfg), AddressError);
  });
});

describe("gateway rooms", () => {
  it("names a Matrix room by alias or ID as a MUC on the component domain, and reads it back", () => {
    for (const [ref, jid] of [
      ["#lobby:matrix.test", "#lobby%matrix.test@matrix.xmpp.test"],
      ["!AbC:example.org", "!^ab^c%example.org@matrix.xmpp.test"],
      ["#a/b:example.org:8448", "#a\\2fb%example.org\\3a8448@matrix.xmpp.test"],
    ] as const) {
      assert.equal(gatewayRoomJid(ref, cfg), jid);
      const back = roomRefOfGatewayJid(jid, cfg);
      assert.deepEqual(back, ref.startsWith("#") ? { kind: "alias", alias: ref } : { kind: "id", roomId: ref });
    }
  });
  it("tells gateway rooms and puppets apart", () => {
    assert.equal(roomRefOfGatewayJid("alice%matrix.test@matrix.xmpp.test", cfg), undefined);
    assert.equal(userIdOfPuppet("#lobby%matrix.test@matrix.xmpp.test", cfg), undefined);
    assert.equal(roomRefOfGatewayJid("#lobby%matrix.test@conference.xmpp.test", cfg), undefined);
    assert.equal(roomRefOfGatewayJid("#lobby@matrix.xmpp.test", cfg), undefined);
    assert.throws(() => puppetJid("@#odd:matrix.test", cfg));
  });
});
