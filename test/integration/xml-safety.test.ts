/**
 * Nothing a Matrix user writes may make the XMPP server close the component stream: characters XML 1.0
 * forbids never reach it, whichever field carries them, and display names become nicks the server takes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { xml } from "@xmpp/client";
import { bodyOf, portalScene, puppetOf } from "./scenes.js";
import { bridgeSuite, eventually, portalAliasOf, uniqueName } from "./harness.js";
import { MatrixTestClient } from "./matrix-client.js";

const suite = bridgeSuite();

/** C0 controls, the two non-characters XML excludes, and characters around them that must stay. */
const hostile = (word: string): string => `${word.slice(0, 2)}\u0001\u0007${word.slice(2)}\uFFFE\uFFFF\u001B`;

/** The component stream never closed since the bridge started. */
function assertStreamHeld(): void {
  const drops = suite.bridge.records.filter((r) => r.msg === "component connection offline" || r.msg === "the XMPP server closed the component stream");
  assert.deepEqual(drops, [], "the component stream stayed up");
}

test("forbidden characters in bodies, formatting, reactions and file names never reach the XMPP server", async () => {
  const p = await portalScene(suite, "xmlsafe");
  await p.matrixUser.send(p.roomId, { msgtype: "m.text", body: hostile("hello there"), format: "org.matrix.custom.html", formatted_body: `<b>${hostile("hello there")}</b>` });
  // The formatted body's bold is XEP-0393's *bold*.
  await p.fromMatrix("*hello there*");

  // A JSON string may hold a lone surrogate; whatever the homeserver makes of it, the stream holds.
  const lone = await p.matrixUser.sendText(p.roomId, "lone \uD800 surrogate").then(
    () => true,
    () => false,
  );
  if (lone) await p.xmppUser.waitFor((s) => s.attrs.from === `${p.room}/Max` && /^lone .* surrogate$/.test(bodyOf(s) ?? ""), "the message with a lone surrogate");

  const said = await p.say("x1", "react to me");
  const seen = await p.fromXmpp((e) => e.content.body === "react to me", "the XMPP message");
  await p.matrixUser.send(p.roomId, { "m.relates_to": { rel_type: "m.annotation", event_id: seen.event_id, key: hostile("👍") } }, "m.reaction");
  const reaction = await p.xmppUser.waitFor((s) => s.attrs.from === `${p.room}/Max` && !!s.getChild("reactions", "urn:xmpp:reactions:0"), "the reaction");
  assert.equal(reaction.getChild("reactions", "urn:xmpp:reactions:0")?.getChildText("reaction"), "👍");
  assert.ok(said);

  const mxc = await p.matrixUser.upload(Buffer.from("a report\n"), "text/plain", "report.txt");
  await p.matrixUser.send(p.roomId, { msgtype: "m.file", body: hostile("report.txt"), url: mxc, info: { mimetype: "text/plain", size: 9 } });
  const file = await p.xmppUser.waitFor((s) => s.attrs.from === `${p.room}/Max` && !!s.getChild("x", "jabber:x:oob"), "the file");
  assert.equal(file.getChild("file-sharing", "urn:xmpp:sfs:0")?.getChild("file", "urn:xmpp:file:metadata:0")?.getChildText("name"), "report.txt");

  await p.matrixUser.sendText(p.roomId, "still here");
  await p.fromMatrix("still here");
  assertStreamHeld();
});

test("a display name full of forbidden characters becomes a clean nick, and its owner's messages arrive", async () => {
  const p = await portalScene(suite, "xmlnick");
  const eve = await MatrixTestClient.register(uniqueName("eve"));
  await eve.request("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(eve.userId)}/displayname`, { displayname: hostile("Eve Online") });
  const roomId = await eve.join(portalAliasOf(p.room));
  await p.xmppUser.waitFor((s) => s.is("presence") && s.attrs.from === `${p.room}/Eve Online`, "Eve's puppet under a clean nick");
  await eve.sendText(roomId, "hi from eve");
  await p.xmppUser.waitFor((s) => s.is("message") && s.attrs.from === `${p.room}/Eve Online` && bodyOf(s) === "hi from eve", "Eve's message");
  // The puppet's vCard carries the display name too (XEP-0054), through the same guard.
  const card = await p.xmppUser.iq(xml("iq", { type: "get", to: puppetOf(eve.userId) }, xml("vCard", { xmlns: "vcard-temp" })));
  assert.equal(card.getChild("vCard", "vcard-temp")?.getChildText("FN"), "Eve Online");

  // A right-to-left name that ends with a digit: resourceprep's bidi rule, kept by dropping the digit.
  await eve.request("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(eve.userId)}/displayname`, { displayname: "محمد 2" });
  await p.xmppUser.waitFor((s) => s.is("presence") && s.attrs.from === `${p.room}/محمد`, "the nick change to a valid right-to-left nick");
  await p.matrixUser.sendText(p.roomId, "and Max too");
  await p.fromMatrix("and Max too");
  assertStreamHeld();
});

test("forbidden characters in topics and room names reach the MUC cleaned", async () => {
  const p = await portalScene(suite, "xmlmeta");
  await p.makeMaxModerator();
  await p.makePuppetOwner();
  await p.setState("m.room.topic", { topic: hostile("Tea at five") });
  await p.xmppUser.waitFor((s) => s.is("message") && s.attrs.from === `${p.room}/Max` && s.getChildText("subject") === "Tea at five", "the cleaned subject");
  await p.setState("m.room.name", { name: hostile("Tea room") });
  await eventually(async () => {
    const info = await p.xmppUser.iq(xml("iq", { type: "get", to: p.room }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })));
    return info.getChild("query")?.getChild("identity")?.attrs.name === "Tea room" ? true : undefined;
  }, "the MUC renamed, cleaned");
  await p.matrixUser.sendText(p.roomId, "after the topic");
  await p.fromMatrix("after the topic");
  assertStreamHeld();
});
