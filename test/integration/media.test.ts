import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { xml } from "@xmpp/client";
import { bodyOf, directChatScene, portalScene } from "./scenes.js";
import { baseConfig, bridgeSuite, stack } from "./harness.js";
import { pngImage } from "./fixtures.js";

// A small limit, so that a "huge" file is quick to make.
const MAX_BYTES = 1_000_000;
const suite = bridgeSuite({ media: { maxBytes: MAX_BYTES } });
const sha256 = (bytes: Buffer): string => createHash("sha256").update(bytes).digest("hex");
const SFS = "urn:xmpp:sfs:0";
const FILE_METADATA = "urn:xmpp:file:metadata:0";

test("an image from Matrix reaches XMPP as a link its clients show inline; the bytes behind it are the original's", async () => {
  const p = await portalScene(suite, "img");
  const png = pngImage(40, 30, 1);
  const message = await p.postImage(png, "chart.png", { width: 40, height: 30 });
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

  assert.equal(metadata?.getChild("thumbnail", "urn:xmpp:thumbs:1"), undefined, "a small image is its own preview");

  // A link is good only as signed: another file, or another expiry, is not served.
  const parts = url.split("/");
  parts[parts.length - 4] = "AAAAAAAAAAAAAAAA";
  assert.equal((await fetch(parts.join("/"))).status, 404);
});

test("a large image comes with a XEP-0264 thumbnail: a smaller image from the homeserver", async () => {
  const p = await portalScene(suite, "thumb");
  const png = pngImage(1200, 900, 4);
  const message = await p.postImage(png, "wide.png", { width: 1200, height: 900 });
  const thumbnail = message.getChild("file-sharing", SFS)?.getChild("file", FILE_METADATA)?.getChild("thumbnail", "urn:xmpp:thumbs:1");
  assert.ok(thumbnail?.attrs.uri, "a thumbnail is offered");
  const res = await fetch(thumbnail.attrs.uri);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^image\//);
  const bytes = Buffer.from(await res.arrayBuffer());
  assert.ok(bytes.length > 0 && bytes.length < png.length, `the thumbnail (${bytes.length} bytes) is smaller than the image (${png.length})`);
});

test("a file with a caption in a DM: the link first, then the caption; the file is offered as a download", async () => {
  const d = await directChatScene(suite, { id: "f0", body: "send me the notes" });
  const notes = Buffer.from("1. bridge\n2. test\n".repeat(100));
  const mxc = await d.matrixUser.upload(notes, "text/markdown", "notes.md");
  const content = { msgtype: "m.file", body: "Here they are", filename: "notes.md", url: mxc, info: { mimetype: "text/markdown", size: notes.length } };
  const eventId = await d.matrixUser.send(d.roomId, content);
  const file = await d.fromMatrix((s) => s.getChild("x", "jabber:x:oob") !== undefined, "the file");
  const caption = await d.fromMatrix((s) => bodyOf(s) === "Here they are", "the caption");
  assert.ok(d.xmppUser.stanzas.indexOf(file) < d.xmppUser.stanzas.indexOf(caption), "the caption comes after the file");
  const res = await fetch(bodyOf(file)!);
  assert.match(res.headers.get("content-disposition") ?? "", /^attachment; filename="notes.md"/);
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  assert.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(notes));

  // Editing the caption corrects the caption message (XEP-0308), never the file's.
  const edited = { ...content, body: "Here they are, fixed" };
  await d.matrixUser.send(d.roomId, { ...edited, body: "* Here they are, fixed", "m.new_content": edited, "m.relates_to": { rel_type: "m.replace", event_id: eventId } });
  const correction = await d.fromMatrix((s) => bodyOf(s) === "Here they are, fixed", "the corrected caption");
  assert.equal(correction.getChild("replace", "urn:xmpp:message-correct:0")?.attrs.id, caption.attrs.id);
});

const oob = (url: string) => xml("x", { xmlns: "jabber:x:oob" }, xml("url", {}, url));

test("a file an XMPP user uploads (XEP-0363) arrives on Matrix as m.image; the media repository has the same bytes", async () => {
  const p = await portalScene(suite, "upimg");
  const png = pngImage(64, 48, 2);
  const url = await p.xmppUser.upload(png, "holiday.png", "image/png");
  await p.say("u1", url, oob(url));
  const image = await p.fromXmpp((e) => e.content.msgtype === "m.image", "the image on Matrix");
  assert.equal(image.content.body, "holiday.png");
  assert.equal(image.content.filename, "holiday.png");
  assert.deepEqual(image.content.info, { mimetype: "image/png", size: png.length, w: 64, h: 48 });
  const stored = await p.matrixUser.download(image.content.url);
  assert.equal(sha256(stored.bytes), sha256(png));
});

test("in a DM, the words around a shared link are the file's caption", async () => {
  const d = await directChatScene(suite, { id: "c0", body: "hi" });
  const text = Buffer.from("plain notes\n");
  const url = await d.xmppUser.upload(text, "notes.txt", "text/plain");
  await d.send("c1", xml("body", {}, `the notes: ${url}`), oob(url));
  const file = await d.fromXmpp((e) => e.content.msgtype === "m.file", "the file on Matrix");
  assert.equal(file.content.body, "the notes:");
  assert.equal(file.content.filename, "notes.txt");
  assert.equal(file.content.info.mimetype, "text/plain");
  assert.equal((await d.matrixUser.download(file.content.url)).bytes.toString(), "plain notes\n");
});

test("hostile links (loopback, too big, not what they claim) become a notice with the link, and the bridge goes on", async () => {
  const p = await portalScene(suite, "hostile");
  const notice = (url: string) => p.fromXmpp((e) => e.content.msgtype === "m.notice" && String(e.content.body).includes(url), `a notice for ${url}`);

  const loopback = `${stack.synapseUrl}/_matrix/client/versions`;
  await p.say("h1", loopback, oob(loopback));
  assert.match((await notice(loopback)).content.body, /could not be bridged: .*(address|allowed)/i);

  const huge = await p.xmppUser.upload(Buffer.alloc(MAX_BYTES + 1, 7), "huge.bin", "application/octet-stream");
  await p.say("h2", huge, oob(huge));
  assert.match((await notice(huge)).content.body, /larger/i);

  const fake = await p.xmppUser.upload(Buffer.from("<html><script>alert(1)</script></html>"), "cat.png", "image/png");
  await p.say("h3", fake, oob(fake));
  assert.match((await notice(fake)).content.body, /image\/png/);

  await p.say("h4", "still here?");
  await p.fromXmpp((e) => e.content.body === "still here?", "a message after the refusals");
  const metrics = baseConfig().metrics as { bindAddress: string; port: number };
  const text = await (await fetch(`http://${metrics.bindAddress}:${metrics.port}/metrics`)).text();
  const refused = Number(/bridge_file_transfers_total\{direction="to_matrix",outcome="refused"\} (\d+)/.exec(text)?.[1]);
  assert.ok(refused >= 3, "the refusals are counted for the admin");
  const count = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
  assert.ok(count(/^bridge_events_total\{direction="xmpp_to_matrix",kind="message",outcome="delivered"\} (\d+)$/m) >= 4, "the messages are counted");
  assert.ok(count(/^bridge_delivery_seconds_count\{direction="xmpp_to_matrix"\} (\d+)$/m) >= 4, "and timed");
  assert.ok(count(/^bridge_rooms\{kind="portal"\} (\d+)$/m) >= 1, "the portal is counted");
  assert.ok(count(/^bridge_users\{kind="ghost"\} (\d+)$/m) >= 1, "the XMPP user heard in the portal is counted as a ghost");
  assert.ok(count(/^bridge_users\{kind="puppet"\} (\d+)$/m) >= 1, "the Matrix user in the MUC is counted as a puppet");
  assert.match(text, /^bridge_outbox_oldest_seconds\{direction="xmpp_to_matrix"\} [\d.e-]+$/m);
});
