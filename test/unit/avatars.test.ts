import { describe, it } from "node:test";
import assert from "node:assert/strict";
import xml from "@xmpp/xml";
import { AVATAR_MAX_BYTES, AvatarRejectedError, decodeBase64, inspectAvatar, sha1Hex } from "../../src/core/avatars.js";
import { parseOccupantPresence, renderJoin } from "../../src/xmpp/stanzas.js";
import { parseAvatarHash } from "../../src/xmpp/presence-stanzas.js";
import { readVcard, renderVcard } from "../../src/xmpp/vcard.js";

/** The smallest GIF there is: enough for a type sniffer to see an image. */
const GIF = Buffer.from("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7", "base64");
const rejects = (reason: RegExp) => (err: unknown) => err instanceof AvatarRejectedError && reason.test(err.reason);

describe("avatars: what may be an avatar", () => {
  it("takes an image and knows it by its SHA-1", async () => {
    const avatar = await inspectAvatar(GIF);
    assert.equal(avatar.mediaType, "image/gif");
    assert.equal(avatar.sha1, sha1Hex(GIF));
    assert.match(avatar.sha1, /^[0-9a-f]{40}$/);
  });
  it("refuses what is not an image, and what is too big", async () => {
    await assert.rejects(inspectAvatar(Buffer.from("%PDF-1.7\n")), rejects(/not an image/));
    await assert.rejects(inspectAvatar(Buffer.from("just text")), rejects(/not an image/));
    await assert.rejects(inspectAvatar(Buffer.alloc(0)), rejects(/empty/));
    await assert.rejects(inspectAvatar(Buffer.concat([GIF, Buffer.alloc(AVATAR_MAX_BYTES)])), rejects(/larger/));
  });
  it("decodes base64 wrapped in whitespace, and refuses bad base64 and huge texts before decoding", () => {
    assert.deepEqual(decodeBase64(`  ${GIF.toString("base64").replace(/(.{8})/g, "$1\n")}  `), GIF);
    assert.throws(() => decodeBase64("R0lG*ODlh"), rejects(/base64/));
    assert.throws(() => decodeBase64("abc"), rejects(/base64/));
    assert.throws(() => decodeBase64("A".repeat(10 * 1024 * 1024)), rejects(/larger/));
    assert.throws(() => decodeBase64(Buffer.alloc(AVATAR_MAX_BYTES + 3).toString("base64")), rejects(/larger/));
  });
});

describe("vCard-temp and XEP-0153", () => {
  const vcard = (...children: ReturnType<typeof xml>[]) => xml("vCard", { xmlns: "vcard-temp" }, ...children);
  it("reads NICKNAME before FN, and the photo's bytes", () => {
    const photo = xml("PHOTO", {}, xml("TYPE", {}, "image/gif"), xml("BINVAL", {}, GIF.toString("base64")));
    assert.deepEqual(readVcard(vcard(xml("FN", {}, "Ada Lovelace"), xml("NICKNAME", {}, " ada "), photo)), { name: "ada", photo: GIF });
    assert.deepEqual(readVcard(vcard(xml("FN", {}, "Ada Lovelace"))), { name: "Ada Lovelace" });
    assert.deepEqual(readVcard(vcard()), {});
  });
  it("keeps the name when the photo is hostile", () => {
    const huge = xml("PHOTO", {}, xml("BINVAL", {}, "A".repeat(10 * 1024 * 1024)));
    assert.deepEqual(readVcard(vcard(xml("FN", {}, "Eve"), huge)), { name: "Eve", photoRejected: `larger than ${AVATAR_MAX_BYTES} bytes` });
    assert.equal(readVcard(vcard(xml("PHOTO", {}, xml("BINVAL", {}, "not*base64")))).photoRejected, "not valid base64");
  });
  it("renders a puppet's vCard and replaces only the photo of a room's", () => {
    const card = renderVcard({ name: "Max", photo: { bytes: GIF, mediaType: "image/gif" } });
    assert.equal(card.getChildText("FN"), "Max");
    assert.equal(card.getChildText("NICKNAME"), "Max");
    assert.equal(card.getChild("PHOTO")?.getChildText("BINVAL"), GIF.toString("base64"));
    const room = renderVcard({}, vcard(xml("DESC", {}, "a room"), xml("PHOTO", {}, xml("BINVAL", {}, "AAAA"))));
    assert.equal(room.getChildText("DESC"), "a room");
    assert.equal(room.getChild("PHOTO"), undefined);
  });
  it("tells a hash, no avatar, and not telling apart in presence", () => {
    const presence = (...children: ReturnType<typeof xml>[]) => xml("presence", { from: "room@muc.example/ada", to: "p@c.example/matrix" }, xml("x", { xmlns: "http://jabber.org/protocol/muc#user" }), ...children);
    const update = (photo?: string) => xml("x", { xmlns: "vcard-temp:x:update" }, photo === undefined ? undefined : xml("photo", {}, photo));
    const hash = sha1Hex(GIF);
    assert.equal(parseAvatarHash(presence(update(hash.toUpperCase()))), hash);
    assert.equal(parseAvatarHash(presence(update(""))), "");
    assert.equal(parseAvatarHash(presence(update())), undefined);
    assert.equal(parseAvatarHash(presence()), undefined);
    assert.equal(parseAvatarHash(presence(update("<script>"))), undefined);
    assert.equal(parseOccupantPresence(presence(update(hash)))?.avatarHash, hash);
    assert.equal("avatarHash" in (parseOccupantPresence(presence()) ?? {}), false);
  });
  it("puts the puppet's hash in its MUC presence only when it is known", () => {
    const photoOf = (el: ReturnType<typeof xml>) => el.getChild("x", "vcard-temp:x:update")?.getChild("photo");
    assert.equal(photoOf(renderJoin("p@c/matrix", "room@muc", "Max", {}, "ab".repeat(20)))?.getText(), "ab".repeat(20));
    assert.equal(photoOf(renderJoin("p@c/matrix", "room@muc", "Max", false, ""))?.getText(), "");
    assert.equal(renderJoin("p@c/matrix", "room@muc", "Max").getChild("x", "vcard-temp:x:update"), undefined);
  });
});
