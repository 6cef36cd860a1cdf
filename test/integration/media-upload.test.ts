import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { bodyOf, portalScene } from "./scenes.js";
import { bridgeSuite, stack } from "./harness.js";
import { pngImage } from "./fixtures.js";

// The other way of sharing Matrix files: the sender's puppet uploads a copy to the XMPP server (XEP-0363),
// whose upload service the bridge finds through disco.
const suite = bridgeSuite({ media: { matrixToXmpp: "upload" } });
const sha256 = (bytes: Buffer): string => createHash("sha256").update(bytes).digest("hex");

test("with media.matrixToXmpp: upload, a Matrix image is copied to the XMPP server's upload service", async () => {
  const p = await portalScene(suite, "upl");
  const png = pngImage(20, 10, 3);
  const message = await p.postImage(png, "tiny.png", { width: 20, height: 10 });
  const url = bodyOf(message)!;
  // Prosody's mod_http_file_share serves under /file_share/, ejabberd's mod_http_upload where the stack put it, /upload/.
  const served = stack.xmppServer === "ejabberd" ? /\/upload\/.+\/tiny\.png$/ : /\/file_share\/.+\/tiny\.png$/;
  assert.match(url, served, "a link to the XMPP server's upload service, not to the bridge");
  const res = await fetch(url);
  assert.equal(res.headers.get("content-type"), "image/png");
  assert.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(png));
});
