import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { bodyOf, directChatScene, portalScene } from "./scenes.js";
import { bridgeSuite } from "./harness.js";
import { pngImage } from "./fixtures.js";

const suite = bridgeSuite();
const sha256 = (bytes: Buffer): string => createHash("sha256").update(bytes).digest("hex");
const SFS = "urn:xmpp:sfs:0";
const FILE_METADATA = "urn:xmpp:file:metadata:0";

test("an image from Matrix reaches XMPP as a link its clients show inline; the bytes behind it are the original's", async () => {
  const p = await portalScene(suite, "img");
  const png = pngImage(40, 30, 1);
  const mxc = await p.matrixUser.upload(png, "image/png", "chart.png");
  await p.matrixUser.send(p.roomId, { msgtype: "m.image", body: "chart.png", url: mxc, info: { mimetype: "image/png", size: png.length, w: 40, h: 30 } });
  const message = await p.xmppUser.waitFor((s) => s.is("message") && s.attrs.from === `${p.room}/Max` && s.getChild("x", "jabber:x:oob") !== undefined, "the image on XMPP");
  const url = bodyOf(message)!;
  assert.equal(message.getChild("x", "jabber:x:oob")?.getChildText("url"), url, "XEP-0066: the body is the URL alone");
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/media\/.+\/chart\.png$/);
  const metadata = message.getChild("file-sharing", SFS)?.getChild("file", FILE_METADATA);
  assert.equal(metadata?.getChildText("media-type"), "image/png");
  assert.equal(metadata?.getChildText("name"), "chart.png");
  assert.equal(metadata?.getChildText("size"), String(png.length));
  assert.equal(metadata?.getChildText("width"), "40");
  assert.equal(metadata?.getChildText("height"), "30");
  assert.equal(message.getChild("file-sharing", SFS)?.getChild("sources")?.getChild("url-data")?.attrs.target, url);

  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "image/png");
  assert.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(png));
  const head = await fetch(url, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-length"), String(png.length));

  // A link is good only as signed: another file, or another expiry, is not served.
  const parts = url.split("/");
  parts[parts.length - 4] = "AAAAAAAAAAAAAAAA";
  assert.equal((await fetch(parts.join("/"))).status, 404);
});

test("a file with a caption in a DM: the link first, then the caption; the file is offered as a download", async () => {
  const d = await directChatScene(suite, { id: "f0", body: "send me the notes" });
  const notes = Buffer.from("1. bridge\n2. test\n".repeat(100));
  const mxc = await d.matrixUser.upload(notes, "text/markdown", "notes.md");
  await d.matrixUser.send(d.roomId, { msgtype: "m.file", body: "Here they are", filename: "notes.md", url: mxc, info: { mimetype: "text/markdown", size: notes.length } });
  const file = await d.fromMatrix((s) => s.getChild("x", "jabber:x:oob") !== undefined, "the file");
  const caption = await d.fromMatrix((s) => bodyOf(s) === "Here they are", "the caption");
  assert.ok(d.xmppUser.stanzas.indexOf(file) < d.xmppUser.stanzas.indexOf(caption), "the caption comes after the file");
  const res = await fetch(bodyOf(file)!);
  assert.match(res.headers.get("content-disposition") ?? "", /^attachment; filename="notes.md"/);
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  assert.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(notes));
});
