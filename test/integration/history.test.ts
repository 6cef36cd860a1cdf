import { test } from "node:test";
import assert from "node:assert/strict";
import { xml } from "@xmpp/client";
import { MatrixTestClient } from "./matrix-client.js";
import { baseConfig, bridgeSuite, eventually, stack, uniqueName } from "./harness.js";
import { directChatScene } from "./scenes.js";

const RECEIPTS = "urn:xmpp:receipts";
const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
const ghostOf = (jid: string) => `@_xmpp_${jid.replace("@", "=40")}:${stack.matrixDomain}`;

const suite = bridgeSuite();

test("delivery receipts (XEP-0184): a DM message is confirmed once it is on Matrix; one Matrix refuses gets an error with its id and why", async () => {
  const { xmppUser, matrixUser, puppet, roomId, fromXmpp, send } = await directChatScene(suite, { id: "first", body: "hello" });
  const info = await xmppUser.iq(xml("iq", { type: "get", to: puppet }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })));
  assert.ok(info.getChild("query")?.getChildren("feature").some((f) => f.attrs.var === RECEIPTS), "puppets advertise receipts");

  await send("asked", xml("body", {}, "tell me when it arrives"), xml("request", { xmlns: RECEIPTS }));
  const receipt = await xmppUser.waitFor((s) => s.is("message") && s.getChild("received", RECEIPTS)?.attrs.id === "asked", "the receipt");
  assert.equal(receipt.attrs.from?.split("/")[0], puppet);
  // The receipt came after the homeserver took the message: it is in the room's history by now.
  const bodies = (await matrixUser.history(roomId)).map((e) => e.content.body);
  assert.ok(bodies.includes("tell me when it arrives"), "the Matrix event exists when the receipt arrives");

  // A correction is one event with its new text twice (body and m.new_content): over Synapse's 64 KiB it is refused for good.
  const long = "x".repeat(40_000);
  await send("huge", xml("body", {}, long), xml("replace", { xmlns: "urn:xmpp:message-correct:0", id: "asked" }), xml("request", { xmlns: RECEIPTS }));
  const error = await xmppUser.waitFor((s) => s.is("message") && s.attrs.type === "error" && s.attrs.id === "huge", "the error for the refused correction");
  assert.equal(error.attrs.from?.split("/")[0], puppet);
  assert.ok(error.getChild("error")?.getChild("not-acceptable", STANZAS), "not-acceptable");
  assert.match(error.getChild("error")?.getChildText("text", STANZAS) ?? "", /not delivered to Matrix: it is too large/);
  assert.ok(!xmppUser.stanzas.some((s) => s.getChild("received", RECEIPTS)?.attrs.id === "huge"), "no receipt for it");

  // The conversation goes on.
  await send("after", xml("body", {}, "still here"), xml("request", { xmlns: RECEIPTS }));
  await fromXmpp((e) => e.content.body === "still here", "the next message");
  await xmppUser.waitFor((s) => s.getChild("received", RECEIPTS)?.attrs.id === "after", "its receipt");
});

test("a Matrix message the XMPP side sends back for good gets a notice replying to it, saying why", async () => {
  const carol = await MatrixTestClient.register(uniqueName("carol"));
  const nobody = `${uniqueName("nobody")}@${stack.xmppDomain}`;
  const roomId = await carol.createRoom({ preset: "trusted_private_chat", is_direct: true, invite: [ghostOf(nobody)] });
  await eventually(async () => ((await carol.members(roomId)).get(ghostOf(nobody)) === "join" ? true : undefined), "the ghost to join");
  const eventId = await carol.sendText(roomId, "is anyone there?");
  const notice = await carol.waitForEvent((e) => e.room_id === roomId && e.content.msgtype === "m.notice" && /not delivered to XMPP/.test(e.content.body), "the notice", 30_000);
  assert.equal(notice.content["m.relates_to"]?.["m.in_reply_to"]?.event_id, eventId);
  assert.match(notice.content.body, new RegExp(`${nobody.replace(/\./g, "\\.")} cannot be reached`));
  const metricsPort = (baseConfig().metrics as { port: number }).port;
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  assert.match(metrics, /bridge_undeliverable_messages_total\{direction="matrix_to_xmpp",reason="[a-z-]+"\} [1-9]/);
});
