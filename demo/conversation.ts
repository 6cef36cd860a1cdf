/**
 * The demo's scripted conversation (npm run demo, and test/integration/demo.test.ts): a Matrix user and
 * an XMPP user talk through the running bridge in a DM and in a portal, with a reaction and an edit.
 * Each step is printed as a person would read it, and each waits until the other side really received
 * it; a step that does not arrive fails the script, naming what was missing. The same client helpers as
 * the integration tests, so the stack comes in through the environment (see test/integration/harness.ts).
 */
import { xml } from "@xmpp/client";
import { eventually, portalAliasOf } from "../test/integration/harness.js";
import { MatrixTestClient, type ClientEvent } from "../test/integration/matrix-client.js";
import { XmppTestClient } from "../test/integration/xmpp-client.js";
import { bodyOf, ghostOf, puppetOf, type Stanza } from "../test/integration/scenes.js";

export interface Cast {
  /** Localpart of the Matrix user (registered on first use, logged in after). */
  matrixUser: string;
  /** Localpart of the XMPP user (created, or given this password again). */
  xmppUser: string;
  password: string;
  /** The MUC the portal stands for, a full JID on the stack's MUC service. */
  muc: string;
}

/** How long each step may take to arrive: the demo's machine may be busy installing and starting servers. */
const STEP_TIMEOUT_MS = 60_000;
const MUC = "http://jabber.org/protocol/muc";
const CORRECTION = "urn:xmpp:message-correct:0";
const REACTIONS = "urn:xmpp:reactions:0";

/** Plays the conversation; `print` gets each line. Rejects with what did not arrive. */
export async function playConversation(cast: Cast, print: (line: string) => void): Promise<void> {
  const alice = await MatrixTestClient.signIn(cast.matrixUser, cast.password);
  const bob = await XmppTestClient.login(cast.xmppUser, cast.password, XmppTestClient.MODERN_FEATURES, "demo");
  try {
    // The users and the portal outlive a demo run: only what happens from now on counts.
    await alice.skipHistory();
    const a = cast.matrixUser;
    const b = cast.xmppUser;
    const arrived = async <T>(said: string, seen: string, arrival: () => Promise<T>): Promise<T> => {
      print(said);
      const value = await arrival().catch((err: unknown) => {
        throw new Error(`after “${said}”, this did not happen: “${seen}” (${(err as Error).message})`);
      });
      print(`    ${seen}`);
      return value;
    };
    // Live stanzas only: offline storage and MUC history replay what earlier runs said, marked with a delay.
    const bobGets = (pred: (s: Stanza) => boolean, what: string) => bob.waitFor((s) => !s.getChild("delay", "urn:xmpp:delay") && pred(s), what, STEP_TIMEOUT_MS);
    const aliceGets = (roomId: string, pred: (e: ClientEvent) => boolean, what: string) => alice.waitForEvent((e) => e.room_id === roomId && pred(e), what, STEP_TIMEOUT_MS);

    print(`— a direct chat between ${alice.userId} (Matrix) and ${bob.jid} (XMPP)`);
    const ghost = ghostOf(bob.jid);
    const dm = await arrived(`${a} (Matrix) invites ${b}'s ghost ${ghost} to a direct chat`, `the ghost of ${b} joins the room`, async () => {
      const roomId = await alice.createRoom({ preset: "trusted_private_chat", is_direct: true, invite: [ghost] });
      await eventually(async () => ((await alice.members(roomId)).get(ghost) === "join" ? true : undefined), "the ghost to join", STEP_TIMEOUT_MS);
      return roomId;
    });
    const hello = `Hi ${b}, ${a} here, writing from Matrix`;
    await arrived(`${a} (Matrix) → ${bob.jid} (XMPP): ${hello}`, `${b} sees: ${hello}`, async () => {
      await alice.sendText(dm, hello);
      return bobGets((s) => s.is("message") && s.attrs.from?.split("/")[0] === puppetOf(alice.userId) && bodyOf(s) === hello, "the DM");
    });
    const typo = `Hello ${a}! Greetings from XMPP lnad`;
    const typoId = `demo-${Date.now()}`;
    const answer = await arrived(`${b} (XMPP) → ${alice.userId} (Matrix): ${typo}`, `${a} sees: ${typo}`, async () => {
      await bob.send(xml("message", { to: puppetOf(alice.userId), type: "chat", id: typoId }, xml("body", {}, typo)));
      return aliceGets(dm, (e) => e.sender === ghost && e.content.body === typo, "the answer");
    });
    await arrived(`${a} (Matrix) reacts 👍 to “${typo}”`, `${b} sees the reaction 👍`, async () => {
      await alice.send(dm, { "m.relates_to": { rel_type: "m.annotation", event_id: answer.event_id, key: "👍" } }, "m.reaction");
      return bobGets((s) => {
        const reactions = s.getChild("reactions", REACTIONS);
        return reactions?.attrs.id === typoId && reactions.getChildText("reaction") === "👍";
      }, "the reaction");
    });
    const fixed = `Hello ${a}! Greetings from XMPP land`;
    await arrived(`${b} (XMPP) corrects it to “${fixed}”`, `${a} sees the edit: ${fixed}`, async () => {
      const correction = xml("replace", { xmlns: CORRECTION, id: typoId });
      await bob.send(xml("message", { to: puppetOf(alice.userId), type: "chat", id: `${typoId}-fixed` }, xml("body", {}, fixed), correction));
      return aliceGets(dm, (e) => e.content["m.relates_to"]?.rel_type === "m.replace" && e.content["m.new_content"]?.body === fixed, "the edit");
    });

    const alias = portalAliasOf(cast.muc);
    print(`— a group chat: the MUC ${cast.muc} and its portal ${alias}`);
    await arrived(`${b} (XMPP) joins ${cast.muc}`, `${b} is in the room`, async () => {
      await bob.send(xml("presence", { to: `${cast.muc}/${b}` }, xml("x", { xmlns: MUC }, xml("history", { maxstanzas: "0" }))));
      return bob.waitFor((s) => s.is("presence") && s.attrs.from === `${cast.muc}/${b}`, "self-presence", STEP_TIMEOUT_MS);
    });
    const portal = await arrived(`${a} (Matrix) joins ${alias}`, `${b} sees ${a} enter ${cast.muc}`, async () => {
      const roomId = await alice.join(alias);
      const displayName = ((await alice.request("GET", `/_matrix/client/v3/profile/${encodeURIComponent(alice.userId)}`)) as { displayname?: string }).displayname ?? a;
      await bob.waitFor((s) => s.is("presence") && s.attrs.from === `${cast.muc}/${displayName}` && s.attrs.type !== "unavailable", "the puppet in the MUC", STEP_TIMEOUT_MS);
      return roomId;
    });
    const greeting = `Hello, everyone in ${cast.muc.split("@")[0]}!`;
    await arrived(`${a} (Matrix) → ${cast.muc}: ${greeting}`, `${b} sees in ${cast.muc}: ${greeting}`, async () => {
      await alice.sendText(portal, greeting);
      return bobGets((s) => s.is("message") && s.attrs.type === "groupchat" && bodyOf(s) === greeting, "the message in the MUC");
    });
    const welcome = `Welcome, ${a}!`;
    await arrived(`${b} (XMPP) → ${cast.muc}: ${welcome}`, `${a} sees in ${alias}: ${welcome}`, async () => {
      await bob.send(xml("message", { to: cast.muc, type: "groupchat", id: `demo-${Date.now()}` }, xml("body", {}, welcome)));
      return aliceGets(portal, (e) => e.content.body === welcome, "the message in the portal");
    });
  } finally {
    await bob.stop();
  }
}
