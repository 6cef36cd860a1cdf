import { test } from "node:test";
import assert from "node:assert/strict";
import { FileUrls, fileNameForUrl } from "../../src/core/file-urls.js";

const DAY = 24 * 3600 * 1000;
const fileUrls = new FileUrls("as-token", "https://bridge.example.org/media/", 30 * DAY);

function partsOf(url: string) {
  const path = url.slice("https://bridge.example.org/media/".length);
  const kind = path.startsWith("thumbnail/") ? ("thumbnail" as const) : ("file" as const);
  const [server, mediaId, expires, sig, name] = path.replace(/^thumbnail\//, "").split("/").map(decodeURIComponent);
  return { kind, server: server!, mediaId: mediaId!, expires: expires!, sig: sig!, name: name! };
}

test("a link is valid as signed, until it expires", () => {
  const now = Date.UTC(2026, 10, 25);
  const url = fileUrls.urlFor("mxc://matrix.test/AbC123", "cat photo.png", now)!;
  assert.match(url, /^https:\/\/bridge\.example\.org\/media\/matrix\.test\/AbC123\/[0-9a-z]+\/[\w-]{22}\/cat%20photo\.png$/);
  assert.equal(fileUrls.check(partsOf(url), now), "valid");
  assert.equal(fileUrls.check(partsOf(url), now + 31 * DAY), "expired");
});

test("any changed part makes a link forged; another secret's links are forged too", () => {
  const url = fileUrls.urlFor("mxc://matrix.test/AbC123", "a.png")!;
  const parts = partsOf(url);
  for (const change of [{ mediaId: "Other" }, { server: "evil.test" }, { name: "a.html" }, { expires: "zzzzzzz" }, { sig: parts.sig.replace(/.$/, "A") === parts.sig ? "B".repeat(22) : parts.sig.replace(/.$/, "A") }]) {
    assert.equal(fileUrls.check({ ...parts, ...change }), "forged", JSON.stringify(change));
  }
  assert.equal(new FileUrls("other-token", "https://bridge.example.org/media", DAY).check(parts), "forged");
  assert.equal(fileUrls.check({ ...parts, kind: "thumbnail" }), "forged", "a file's link does not open its thumbnail");
  const thumbnail = fileUrls.urlFor("mxc://matrix.test/AbC123", "thumbnail", Date.now(), "thumbnail")!;
  assert.match(thumbnail, /\/media\/thumbnail\/matrix\.test\/AbC123\//);
  assert.equal(fileUrls.check(partsOf(thumbnail)), "valid");
});

test("no link for what is not an mxc URI; names are made safe for URLs", () => {
  assert.equal(fileUrls.urlFor("https://example.org/x.png", "x.png"), undefined);
  assert.equal(fileUrls.urlFor("mxc://matrix.test/../../etc", "x"), undefined);
  assert.equal(fileNameForUrl("../../etc/passwd"), ".._.._etc_passwd");
  assert.equal(fileNameForUrl("a?b#c%d"), "a_b_c_d");
  assert.equal(fileNameForUrl(".."), "file");
  assert.equal(fileNameForUrl(""), "file");
});
