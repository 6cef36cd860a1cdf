import { test } from "node:test";
import assert from "node:assert/strict";
import { MediaLinks, fileNameForLink } from "../../src/http/media-links.js";

const DAY = 24 * 3600 * 1000;
const links = new MediaLinks("as-token", "https://bridge.example.org/media/", 30 * DAY);

function partsOf(url: string) {
  const path = url.slice("https://bridge.example.org/media/".length);
  const kind = path.startsWith("thumbnail/") ? ("thumbnail" as const) : ("file" as const);
  const [server, mediaId, expires, sig, name] = path.replace(/^thumbnail\//, "").split("/").map(decodeURIComponent);
  return { kind, server: server!, mediaId: mediaId!, expires: expires!, sig: sig!, name: name! };
}

test("a link is valid as signed, until it expires", () => {
  const now = Date.UTC(2026, 10, 25);
  const url = links.linkTo("mxc://matrix.test/AbC123", "cat photo.png", now)!;
  assert.match(url, /^https:\/\/bridge\.example\.org\/media\/matrix\.test\/AbC123\/[0-9a-z]+\/[\w-]{22}\/cat%20photo\.png$/);
  assert.equal(links.check(partsOf(url), now), "valid");
  assert.equal(links.check(partsOf(url), now + 31 * DAY), "expired");
});

test("any changed part makes a link forged; another secret's links are forged too", () => {
  const url = links.linkTo("mxc://matrix.test/AbC123", "a.png")!;
  const parts = partsOf(url);
  for (const change of [{ mediaId: "Other" }, { server: "evil.test" }, { name: "a.html" }, { expires: "zzzzzzz" }, { sig: parts.sig.replace(/.$/, "A") === parts.sig ? "B".repeat(22) : parts.sig.replace(/.$/, "A") }]) {
    assert.equal(links.check({ ...parts, ...change }), "forged", JSON.stringify(change));
  }
  assert.equal(new MediaLinks("other-token", "https://bridge.example.org/media", DAY).check(parts), "forged");
  assert.equal(links.check({ ...parts, kind: "thumbnail" }), "forged", "a file's link does not open its thumbnail");
  const thumbnail = links.linkTo("mxc://matrix.test/AbC123", "thumbnail", Date.now(), "thumbnail")!;
  assert.match(thumbnail, /\/media\/thumbnail\/matrix\.test\/AbC123\//);
  assert.equal(links.check(partsOf(thumbnail)), "valid");
});

test("no link for what is not an mxc URI; names are made safe for URLs", () => {
  assert.equal(links.linkTo("https://example.org/x.png", "x.png"), undefined);
  assert.equal(links.linkTo("mxc://matrix.test/../../etc", "x"), undefined);
  assert.equal(fileNameForLink("../../etc/passwd"), ".._.._etc_passwd");
  assert.equal(fileNameForLink("a?b#c%d"), "a_b_c_d");
  assert.equal(fileNameForLink(".."), "file");
  assert.equal(fileNameForLink(""), "file");
});
