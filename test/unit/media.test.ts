import { test } from "node:test";
import assert from "node:assert/strict";
import xml from "@xmpp/xml";
import { captionOf, fileOfMatrixContent, matrixContentOfFile, msgtypeFor } from "../../src/core/media.js";
import { parseSharedFiles, renderSharedFile } from "../../src/xmpp/file-sharing.js";

test("msgtypes follow the media type; SVG is a file, since clients showing it inline run its scripts", () => {
  assert.equal(msgtypeFor("image/png"), "m.image");
  assert.equal(msgtypeFor("image/svg+xml"), "m.file");
  assert.equal(msgtypeFor("video/mp4"), "m.video");
  assert.equal(msgtypeFor("audio/ogg"), "m.audio");
  assert.equal(msgtypeFor("application/pdf"), "m.file");
  assert.equal(msgtypeFor(undefined), "m.file");
});

test("a Matrix media message: the body is a caption only beside a different filename", () => {
  const image = { msgtype: "m.image", body: "cat.png", url: "mxc://hs/abc", info: { mimetype: "image/PNG", size: 10, w: 4, h: 3, duration: -1 } };
  assert.deepEqual(fileOfMatrixContent(image), { file: { url: "mxc://hs/abc", name: "cat.png", mediaType: "image/png", size: 10, width: 4, height: 3 } });
  const captioned = fileOfMatrixContent({ ...image, filename: "cat.png", body: "my *cat*", format: "org.matrix.custom.html", formatted_body: "my <em>cat</em>" });
  assert.deepEqual(captioned?.caption, { body: "my *cat*", html: "my <em>cat</em>" });
  assert.equal(fileOfMatrixContent({ msgtype: "m.text", body: "x", url: "mxc://hs/abc" }), undefined);
  assert.equal(fileOfMatrixContent({ msgtype: "m.image", body: "x", file: { url: "mxc://hs/enc" } }), undefined, "encrypted files are not bridged");
  assert.equal(fileOfMatrixContent({ msgtype: "m.image", body: "x", url: "https://example.org/x.png" }), undefined);
  assert.ok(fileOfMatrixContent({ body: "sticker", url: "mxc://hs/s", info: {} }, "m.sticker"));
});

test("Matrix content for an uploaded file, with and without a caption", () => {
  const file = { url: "mxc://hs/f", name: "a.png", mediaType: "image/png", size: 5, width: 2, height: 1 };
  assert.deepEqual(matrixContentOfFile(file), {
    msgtype: "m.image",
    body: "a.png",
    filename: "a.png",
    url: "mxc://hs/f",
    info: { mimetype: "image/png", size: 5, w: 2, h: 1 },
    "m.mentions": {},
  });
  const withCaption = matrixContentOfFile(file, { body: "look" });
  assert.equal(withCaption.body, "look");
  assert.equal(withCaption.msgtype, "m.image");
  assert.equal(withCaption.filename, "a.png");
});

test("the caption is what the body says besides the links", () => {
  assert.equal(captionOf("https://x.org/a.png", ["https://x.org/a.png"]), "");
  assert.equal(captionOf("look https://x.org/a.png  here", ["https://x.org/a.png"]), "look here");
  assert.equal(captionOf("no link", ["https://x.org/a.png"]), "no link");
});

test("files are read from OOB, XEP-0447 and SIMS, one per URL, metadata merged", () => {
  const url = "https://up.example.org/a/b.jpg";
  const stanza = xml(
    "message",
    {},
    xml("body", {}, url),
    xml("x", { xmlns: "jabber:x:oob" }, xml("url", {}, url)),
    xml(
      "file-sharing",
      { xmlns: "urn:xmpp:sfs:0" },
      xml("file", { xmlns: "urn:xmpp:file:metadata:0" }, xml("media-type", {}, "image/jpeg"), xml("name", {}, "b.jpg"), xml("size", {}, "1234"), xml("dimensions", {}, "640x480")),
      xml("sources", {}, xml("url-data", { xmlns: "http://jabber.org/protocol/url-data", target: url })),
    ),
    xml(
      "reference",
      { xmlns: "urn:xmpp:reference:0", type: "data" },
      xml(
        "media-sharing",
        { xmlns: "urn:xmpp:sims:1" },
        xml("file", { xmlns: "urn:xmpp:jingle:apps:file-transfer:5" }, xml("media-type", {}, "audio/ogg"), xml("name", {}, "v.ogg")),
        xml("sources", {}, xml("reference", { xmlns: "urn:xmpp:reference:0", type: "data", uri: "https://up.example.org/v.ogg" })),
      ),
    ),
    xml("x", { xmlns: "jabber:x:oob" }, xml("url", {}, "javascript:alert(1)")),
    xml("x", { xmlns: "jabber:x:oob" }, xml("url", {}, "ftp://example.org/x")),
  );
  assert.deepEqual(parseSharedFiles(stanza), [
    { url, mediaType: "image/jpeg", name: "b.jpg", size: 1234, width: 640, height: 480 },
    { url: "https://up.example.org/v.ogg", mediaType: "audio/ogg", name: "v.ogg" },
  ]);
});

test("a rendered file reads back the same", () => {
  const file = { url: "https://bridge.example.org/media/x/y/z/s/a%20b.png", name: "a b.png", mediaType: "image/png", size: 9, width: 3, height: 2, durationMs: 0 };
  const stanza = xml("message", {}, ...renderSharedFile(file));
  const { durationMs: _none, ...expected } = file;
  assert.deepEqual(parseSharedFiles(stanza), [expected]);
});

test("at most ten files of one message are taken: each is a download that holds up the conversation", () => {
  const links = Array.from({ length: 12 }, (_, i) => xml("x", { xmlns: "jabber:x:oob" }, xml("url", {}, `https://up.example.org/${i}.png`)));
  assert.equal(parseSharedFiles(xml("message", {}, ...links)).length, 10);
});
