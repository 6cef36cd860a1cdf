import { test } from "node:test";
import assert from "node:assert/strict";
import { xml } from "@xmpp/client";
import { directChatScene, ghostOf, type Stanza } from "./scenes.js";
import { bridgeSuite, eventually, homeserverRecovering } from "./harness.js";
import type { MatrixTestClient } from "./matrix-client.js";
import type { XmppTestClient } from "./xmpp-client.js";

let enabled = true;
// A short interval keeps the tests quick; the throttle itself is unit-tested.
const suite = bridgeSuite(async () => ({ presence: { enabled, minIntervalSeconds: 1 } }));

const presenceOf = (viewer: MatrixTestClient, userId: string) => viewer.request("GET", `/_matrix/client/v3/presence/${encodeURIComponent(userId)}/status`);
const setPresence = (user: MatrixTestClient, presence: string, statusMsg?: string) =>
  user.request("PUT", `/_matrix/client/v3/presence/${encodeURIComponent(user.userId)}/status`, { presence, ...(statusMsg ? { status_msg: statusMsg } : {}) });

/** The XMPP user subscribes to the puppet and, if asked, lets the puppet see their presence in return. */
async function subscribe(user: XmppTestClient, puppet: string, expectSubscribeBack = true): Promise<void> {
  // Servers deliver subscription answers only to "interested resources": those that asked for the roster (RFC 6121).
  await user.iq(xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:roster" })));
  await user.send(xml("presence", { to: puppet, type: "subscribe" }));
  await user.waitFor((s) => s.is("presence") && s.attrs.from === puppet && s.attrs.type === "subscribed", "subscribed");
  if (!expectSubscribeBack) return;
  await user.waitFor((s) => s.is("presence") && s.attrs.from === puppet && s.attrs.type === "subscribe", "the puppet's subscribe");
  await user.send(xml("presence", { to: puppet, type: "subscribed" }));
}

/** The puppet's availability presence that arrives after the mark (a count of stanzas). */
const puppetPresenceAfter = (user: XmppTestClient, puppet: string, mark: number, pred: (s: Stanza) => boolean, what: string) =>
  user.waitFor((s) => user.stanzas.indexOf(s) >= mark && s.is("presence") && s.attrs.from === `${puppet}/matrix` && pred(s), what);

test("an XMPP user's presence becomes their ghost's presence on Matrix", async () => {
  const { xmppUser: ann, matrixUser: max, puppet } = await directChatScene(suite, { id: "p1", body: "lunch?" });
  await subscribe(ann, puppet);
  await ann.send(xml("presence", {}, xml("show", {}, "away"), xml("status", {}, "At lunch")));
  const away = await eventually(async () => {
    const p = await presenceOf(max, ghostOf(ann.jid));
    return p.presence === "unavailable" && p.status_msg === "At lunch" ? p : undefined;
  }, "the ghost away at lunch");
  assert.equal(away.status_msg, "At lunch");

  await ann.send(xml("presence", { type: "unavailable" }));
  await eventually(async () => ((await presenceOf(max, ghostOf(ann.jid))).presence === "offline" ? true : undefined), "the ghost offline");
});

test("a Matrix user's presence reaches the XMPP users subscribed to the puppet, also one set while the bridge was away", async () => {
  const { xmppUser: bea, matrixUser: mia, puppet } = await directChatScene(suite, { id: "p2", body: "are you in?" });
  await subscribe(bea, puppet);
  await suite.bridge.stop();
  // Synapse cannot push this to the bridge, and does not push it later (docs/reliability.md): the bridge,
  // coming online, tells its subscribers each puppet's presence as the homeserver has it now.
  await setPresence(mia, "unavailable", "In a meeting");
  let mark = bea.stanzas.length;
  await suite.restartBridge();
  const away = await puppetPresenceAfter(bea, puppet, mark, (s) => s.getChildText("show") === "away", "the puppet away");
  assert.equal(away.getChildText("status"), "In a meeting");
  assert.equal(away.attrs.type, undefined);
  // What follows is pushed by the homeserver, once it takes the bridge for up again.
  await eventually(() => (homeserverRecovering() ? undefined : true), "the homeserver to have sent what it held", 90_000);

  // Coming back online, the user's server probes the puppet, which answers with the current presence.
  await bea.send(xml("presence", { type: "unavailable" }));
  mark = bea.stanzas.length;
  await bea.send(xml("presence"));
  const probed = await puppetPresenceAfter(bea, puppet, mark, (s) => s.getChildText("show") === "away", "the probe answered");
  assert.equal(probed.getChildText("status"), "In a meeting");

  mark = bea.stanzas.length;
  await setPresence(mia, "online");
  const online = await puppetPresenceAfter(bea, puppet, mark, (s) => s.attrs.type === undefined && !s.getChild("show"), "the puppet online");
  assert.equal(online.getChild("status"), undefined);

  mark = bea.stanzas.length;
  await setPresence(mia, "offline");
  await puppetPresenceAfter(bea, puppet, mark, (s) => s.attrs.type === "unavailable", "the puppet offline");
});

test("with presence turned off, subscriptions are answered and nothing else crosses", async () => {
  enabled = false;
  await suite.restartBridge();
  const { xmppUser: cem, matrixUser: ida, puppet } = await directChatScene(suite, { id: "p3", body: "hi" });
  const mark = cem.stanzas.length;
  await subscribe(cem, puppet, false);
  // Puppets stay plainly available, as without presence bridging.
  await puppetPresenceAfter(cem, puppet, mark, (s) => s.attrs.type === undefined && !s.getChild("show"), "the puppet available");

  await cem.send(xml("presence", { to: puppet }, xml("show", {}, "dnd"), xml("status", {}, "Do not disturb")));
  await suite.bridge.waitForLog((r) => r.msg === "presence from an XMPP user" && (r.presence as { status?: string } | undefined)?.status === "Do not disturb");
  assert.notEqual((await presenceOf(ida, ghostOf(cem.jid))).status_msg, "Do not disturb");

  await setPresence(ida, "unavailable", "Busy elsewhere");
  await suite.bridge.waitForLog((r) => r.msg === "presence from a Matrix user" && r.matrixUser === ida.userId && (r.presence as { status?: string } | undefined)?.status === "Busy elsewhere");
  assert.equal(
    cem.stanzas.find((s) => s.is("presence") && s.attrs.from === `${puppet}/matrix` && s.getChildText("status") === "Busy elsewhere"),
    undefined,
  );
  assert.equal(cem.stanzas.filter((s) => s.attrs.from === puppet && s.attrs.type === "subscribe").length, 0, "no subscription asked in return");
});
