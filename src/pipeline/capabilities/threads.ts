import { xmppIdOf } from "../../core/conversations.js";
import { threadRelation } from "../../core/relations.js";
import type { XmppDestination } from "../destinations/xmpp-destination.js";
import type { CapabilityDeps } from "./capability.js";

type ThreadsDeps = Pick<CapabilityDeps, "store" | "messageMapSeconds">;

/**
 * Threads both ways: a Matrix thread (m.thread) is an XMPP thread (XEP-0201) named by its root's id
 * there, remembered so replies in it from XMPP find the root again. Only threads Matrix started are
 * threads on Matrix: many XMPP clients put every message in a <thread>.
 */
export async function threadToXmpp({ store, messageMapSeconds }: ThreadsDeps, destination: XmppDestination, threadRoot: string): Promise<string> {
  const root = await store.messageByEventId(threadRoot);
  const thread = root ? (root.ids.originId ?? root.ids.id ?? xmppIdOf(threadRoot)) : xmppIdOf(threadRoot);
  await store.setThreadRoot(destination.conversation, thread, threadRoot, messageMapSeconds);
  return thread;
}

/** The Matrix thread an XMPP message continues, if Matrix started it. */
export async function threadRootOf({ store }: ThreadsDeps, conversation: string, thread: string | undefined): Promise<string | undefined> {
  return thread ? store.threadRoot(conversation, thread) : undefined;
}

/** The relation of a message from XMPP: in its thread (a reply in it too), or a plain reply, or none. */
export function relationOnMatrix(threadRoot: string | undefined, repliedTo: string | undefined): Record<string, unknown> | undefined {
  if (threadRoot) return threadRelation(threadRoot, repliedTo);
  return repliedTo ? { "m.in_reply_to": { event_id: repliedTo } } : undefined;
}
