import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { crc32, deflateSync } from "node:zlib";
import { xml } from "@xmpp/client";
import { directChatScene, portalScene, puppetOf, type Stanza } from "./scenes.js";
import { bridgeSuite, eventually, stack } from "./harness.js";
import type { MatrixTestClient } from "./matrix-client.js";
import type { XmppTestClient } from "./xmpp-client.js";

// A short presence interval: the tests change avatars (announced in presence) in quick succession.
const suite = bridgeSuite({ presence: { minIntervalSeconds: 1 } });

const sha1 = (bytes: Buffer): string => createHash("sha1").update(bytes).digest("hex");

/** A square PNG of one colour: each colour gives other bytes, so another avatar. */
function png(size: number, rgb: [number, number, number]): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const typed = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(typed));
    return Buffer.concat([length, typed, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits per channel, RGB
  const row = Buffer.from([0, ...Array.from({ length: size }, () => rgb).flat()]);
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk("IHDR", header), chunk("IDAT", deflateSync(Buffer.concat(Array.from({ length: size }, () => row)))), chunk("IEND", Buffer.alloc(0))]);
}

const isImage = (bytes: Buffer): boolean => bytes.subarray(1, 4).toString("ascii") === "PNG" || (bytes[0] === 0xff && bytes[1] === 0xd8);

function vcard(fields: { nickname?: string; photo?: Buffer }): Stanza {
  return xml(
    "vCard",
    { xmlns: "vcard-temp" },
    fields.nickname ? xml("NICKNAME", {}, fields.nickname) : undefined,
    fields.photo ? xml("PHOTO", {}, xml("TYPE", {}, "image/png"), xml("BINVAL", {}, fields.photo.toString("base64"))) : undefined,
  );
}

/** Sets the XMPP user's own vCard, or a room's when `to` is given (which only its owner may). */
const setVcard = (client: XmppTestClient, fields: { nickname?: string; photo?: Buffer }, to?: string) => client.iq(xml("iq", { type: "set", ...(to ? { to } : {}) }, vcard(fields)));

const getVcard = async (client: XmppTestClient, to: string): Promise<Stanza | undefined> =>
  (await client.iq(xml("iq", { type: "get", to }, xml("vCard", { xmlns: "vcard-temp" })))).getChild("vCard", "vcard-temp");

const photoOf = (card: Stanza | undefined): Buffer | undefined => {
  const binval = card?.getChild("PHOTO")?.getChildText("BINVAL");
  return binval ? Buffer.from(binval, "base64") : undefined;
};

const profileOf = (client: MatrixTestClient, userId: string) =>
  client.request<{ displayname?: string; avatar_url?: string }>("GET", `/_matrix/client/v3/profile/${encodeURIComponent(userId)}`).catch(() => ({}) as { displayname?: string; avatar_url?: string });


test("an XMPP user's vCard photo becomes their ghost's avatar, uploaded once, and follows when it changes", async () => {
  const p = await portalScene(suite, "avatar");
  const ghost = await eventually(() => p.matrixUser.memberNamed(p.roomId, "xena"), "xena's ghost in the portal");
  const publish = async (photo: Buffer) => {
    await setVcard(p.xmppUser, { photo });
    // Prosody's mod_vcard_legacy puts the new hash in the next presence the client sends.
    await p.xmppUser.send(xml("presence", { to: `${p.room}/xena` }));
  };
  const avatarOtherThan = (before: string | undefined) => async () => {
    const url = (await profileOf(p.matrixUser, ghost)).avatar_url;
    return url && url !== before ? url : undefined;
  };

  const red = png(64, [200, 30, 30]);
  await publish(red);
  const first = await eventually(avatarOtherThan(undefined), "the ghost's avatar");
  assert.deepEqual((await p.matrixUser.download(first)).bytes, red);

  const blue = png(64, [30, 30, 200]);
  await publish(blue);
  const second = await eventually(avatarOtherThan(first), "the ghost's new avatar");
  assert.deepEqual((await p.matrixUser.download(second)).bytes, blue);

  // The same image again is not uploaded again: the first upload's URI comes back.
  await publish(red);
  assert.equal(await eventually(avatarOtherThan(second), "the first avatar again"), first);
});

test("a Matrix user's display name and avatar are their puppet's vCard, and its hash is in the puppet's MUC presence", async () => {
  const p = await portalScene(suite, "puppetcard");
  const puppet = puppetOf(p.matrixUser.userId);
  const empty = await getVcard(p.xmppUser, puppet);
  assert.equal(empty?.getChildText("FN"), "Max");
  assert.equal(empty?.getChild("PHOTO"), undefined);

  const image = png(128, [20, 160, 60]);
  const mxc = await p.matrixUser.upload(image, "image/png", "me.png");
  await p.matrixUser.request("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(p.matrixUser.userId)}/avatar_url`, { avatar_url: mxc });

  const card = await eventually(async () => {
    const got = await getVcard(p.xmppUser, puppet);
    return photoOf(got) ? got : undefined;
  }, "the puppet's vCard with a photo");
  assert.equal(card.getChildText("FN"), "Max");
  assert.equal(card.getChildText("NICKNAME"), "Max");
  const served = photoOf(card)!;
  assert.ok(isImage(served), "the photo is an image");
  assert.match(card.getChild("PHOTO")?.getChildText("TYPE") ?? "", /^image\//);

  const announced = await p.xmppUser.waitFor(
    (s) => s.is("presence") && s.attrs.from === `${p.room}/Max` && !!s.getChild("x", "vcard-temp:x:update")?.getChildText("photo"),
    "the puppet's presence with its avatar hash",
  );
  assert.equal(announced.getChild("x", "vcard-temp:x:update")?.getChildText("photo"), sha1(served));
});

test("an XMPP user's vCard NICKNAME names their ghost; a new avatar in their presence renames it and gives it the photo", async () => {
  const dm = await directChatScene(suite, { id: "n1", body: "hello from the deep" }, undefined, async (x) => void (await setVcard(x, { nickname: "Captain Nemo" })));
  const ghost = dm.firstEvent.sender;
  assert.equal((await profileOf(dm.matrixUser, ghost)).displayname, "Captain Nemo");

  const photo = png(48, [240, 200, 10]);
  await setVcard(dm.xmppUser, { nickname: "Nemo", photo });
  await dm.xmppUser.send(xml("presence", { to: dm.puppet }));
  const renamed = await eventually(async () => {
    const profile = await profileOf(dm.matrixUser, ghost);
    return profile.displayname === "Nemo" && profile.avatar_url ? profile.avatar_url : undefined;
  }, "the ghost renamed, with an avatar");
  assert.deepEqual((await dm.matrixUser.download(renamed)).bytes, photo);

  // A name the XMPP user gives in a message (XEP-0172) keeps precedence over the vCard.
  await dm.send("n2", xml("body", {}, "call me Ned"), xml("nick", { xmlns: "http://jabber.org/protocol/nick" }, "Ned"));
  await dm.fromXmpp((e) => e.content.body === "call me Ned", "the message with a nick");
  assert.equal((await profileOf(dm.matrixUser, ghost)).displayname, "Ned");
  await setVcard(dm.xmppUser, { nickname: "Nemo", photo: png(48, [10, 200, 240]) });
  await dm.xmppUser.send(xml("presence", { to: dm.puppet }));
  await eventually(async () => ((await profileOf(dm.matrixUser, ghost)).avatar_url !== renamed ? true : undefined), "the next avatar");
  assert.equal((await profileOf(dm.matrixUser, ghost)).displayname, "Ned");
});

test("room topic, name and avatar both ways, as far as the MUC lets each side", async () => {
  const p = await portalScene(suite, "meta");
  const setState = p.setState;
  const notice = (pattern: RegExp) => p.fromXmpp((e) => e.content.msgtype === "m.notice" && pattern.test(String(e.content.body)), `a notice matching ${pattern}`);
  const discoInfo = async () => (await p.xmppUser.iq(xml("iq", { type: "get", to: p.room }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })))).getChild("query");

  // The portal's admin (the bridge bot) lets Max change the room's state on Matrix...
  await p.makeMaxModerator();

  // ...but on XMPP Max's puppet is a participant: Prosody lets only moderators change the subject, only owners configure
  // (the ejabberd stack sets allow_change_subj: false for the same; ejabberd's own default lets participants change it).
  await setState("m.room.topic", { topic: "Not yet" });
  await notice(/did not take the new topic/);
  await setState("m.room.name", { name: "Not yet either" });
  await notice(/room name did not change on XMPP.*only its owners/);

  // The MUC's creator, its owner, makes the puppet an owner too.
  await p.makePuppetOwner();
  await setState("m.room.topic", { topic: "Tea at five" });
  await p.xmppUser.waitFor((s) => s.is("message") && s.attrs.from === `${p.room}/Max` && s.getChildText("subject") === "Tea at five", "the subject from Matrix");
  await setState("m.room.name", { name: "Tea room" });
  await eventually(async () => ((await discoInfo())?.getChild("identity")?.attrs.name === "Tea room" ? true : undefined), "the MUC renamed from Matrix");

  // The owner renames the MUC on XMPP: its configuration change (status 104) reaches Matrix.
  const field = (name: string, value: string) => xml("field", { var: name }, xml("value", {}, value));
  const form = xml("x", { xmlns: "jabber:x:data", type: "submit" }, field("FORM_TYPE", "http://jabber.org/protocol/muc#roomconfig"), field("muc#roomconfig_roomname", "Named on XMPP"));
  await p.xmppUser.iq(xml("iq", { type: "set", to: p.room }, xml("query", { xmlns: "http://jabber.org/protocol/muc#owner" }, form)));
  const named = await p.fromXmpp((e) => e.type === "m.room.name" && e.content.name === "Named on XMPP", "the room name from XMPP");
  assert.notEqual(named.sender, p.matrixUser.userId);

  // Room avatars (XEP-0486, Prosody's mod_vcard_muc): from XMPP...
  const fromXmpp = png(64, [90, 90, 90]);
  await setVcard(p.xmppUser, { photo: fromXmpp }, p.room);
  const avatar = await p.fromXmpp((e) => e.type === "m.room.avatar" && typeof e.content.url === "string", "the room avatar from XMPP");
  assert.deepEqual((await p.matrixUser.download(avatar.content.url as string)).bytes, fromXmpp);

  // ...and from Matrix, where the room's vCard gets the avatar's thumbnail and disco#info its hash.
  const fromMatrix = png(96, [250, 120, 0]);
  await setState("m.room.avatar", { url: await p.matrixUser.upload(fromMatrix, "image/png", "room.png") });
  const photo = await eventually(async () => {
    const got = photoOf(await getVcard(p.xmppUser, p.room));
    return got && !got.equals(fromXmpp) ? got : undefined;
  }, "the room's vCard photo from Matrix");
  assert.ok(isImage(photo), "the room's photo is an image");
  if (stack.xmppServer === "ejabberd") {
    // ejabberd 23.01 has no muc#roominfo_avatarhash in disco#info (XEP-0486); it announces the hash in the room's presence.
    await p.xmppUser.waitFor((s) => s.is("presence") && s.attrs.from === p.room && s.getChild("x", "vcard-temp:x:update")?.getChildText("photo") === sha1(photo), "the room's presence with the photo's hash");
    return;
  }
  const hashes = (await discoInfo())?.getChildren("x", "jabber:x:data").flatMap((x) => x.getChildren("field")).filter((f) => /avatar/.test(f.attrs.var ?? "")).map((f) => f.getChildText("value"));
  assert.ok(hashes?.includes(sha1(photo)), `disco#info announces the photo's hash (${hashes?.join()})`);
});
