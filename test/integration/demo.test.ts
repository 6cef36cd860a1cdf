import { test } from "node:test";
import assert from "node:assert/strict";
import { playConversation } from "../../demo/conversation.js";
import { bridgeSuite, portalAliasOf, stack, uniqueName } from "./harness.js";

bridgeSuite();

test("the demo's scripted conversation (npm run demo) arrives step by step: a DM, a reaction, an edit, a portal", async () => {
  const [alice, bob, lobby] = [uniqueName("alice"), uniqueName("bob"), uniqueName("lobby")];
  const muc = `${lobby}@${stack.mucDomain}`;
  const lines: string[] = [];
  // Each step waits for its arrival and rejects when it does not come: resolving is the test.
  await playConversation({ matrixUser: alice, xmppUser: bob, password: "test-password", muc }, (line) => lines.push(line));
  assert.deepEqual(
    lines.filter((l) => l.startsWith("    ")).map((l) => l.trim()),
    [
      `the ghost of ${bob} joins the room`,
      `${bob} sees: Hi ${bob}, ${alice} here, writing from Matrix`,
      `${alice} sees: Hello ${alice}! Greetings from XMPP lnad`,
      `${bob} sees the reaction 👍`,
      `${alice} sees the edit: Hello ${alice}! Greetings from XMPP land`,
      `${bob} is in the room`,
      `${bob} sees ${alice} enter ${muc}`,
      `${bob} sees in ${muc}: Hello, everyone in ${lobby}!`,
      `${alice} sees in ${portalAliasOf(muc)}: Welcome, ${alice}!`,
    ],
  );
});
