/**
 * Run by scripts/demo.sh once the stack and the bridge are up, with the stack's settings in the
 * environment: plays the scripted conversation (conversation.ts) and exits 0, or 1 naming the step
 * that did not arrive.
 *
 *   node dist/demo/main.js --matrix-user alice --xmpp-user bob --password PASSWORD --muc lobby@conference.xmpp.test
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    "matrix-user": { type: "string" },
    "xmpp-user": { type: "string" },
    password: { type: "string" },
    muc: { type: "string" },
  },
});
const { "matrix-user": matrixUser, "xmpp-user": xmppUser, password, muc } = values;
if (!matrixUser || !xmppUser || !password || !muc) {
  console.error("usage: main.js --matrix-user NAME --xmpp-user NAME --password PASSWORD --muc ROOM@SERVICE");
  process.exit(2);
}

// The test helpers read the stack's settings from the environment when they load: a missing one is reported
// as such rather than as a stack trace.
try {
  const { playConversation } = await import("./conversation.js");
  await playConversation({ matrixUser, xmppUser, password, muc }, (line) => console.log(line));
  process.exit(0);
} catch (err) {
  console.error(`demo: the scripted conversation failed: ${(err as Error).message}`);
  process.exit(1);
}
