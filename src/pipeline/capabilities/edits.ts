import type { MatrixMessage } from "../../core/model.js";
import { editFallbackBody } from "../../core/relations.js";
import type { MessageOut, XmppDestination } from "../destinations/xmpp-destination.js";
import type { CapabilityDeps } from "./capability.js";

type EditsDeps = Pick<CapabilityDeps, "store" | "rooms">;

/**
 * Edits both ways: Matrix m.replace and XMPP last message correction (XEP-0308). XMPP clients may only
 * apply a correction to the sender's last message: any other edit goes as a new message marked "* ",
 * which is also what Matrix clients without edits read.
 */
export async function editToXmpp(deps: EditsDeps, destination: XmppDestination, sender: string, edit: NonNullable<MatrixMessage["edit"]>, out: MessageOut): Promise<MessageOut> {
  const { store } = deps;
  const original = await store.messageByEventId(edit.target);
  const sent = original?.sender === sender ? destination.correctionRefOf(original.ids) : undefined;
  // Correcting the file message itself would replace the file with text: its caption message is corrected.
  const ref = sent && edit.newContent.file ? ((await hadCaption(deps, destination, edit.target)) ? `${sent}.caption` : undefined) : sent;
  const last = ref ? (await store.lastMessage(destination.conversation, sender)) === edit.target : false;
  const body = last ? out.body : editFallbackBody(out.body);
  return { ...out, body, ...(ref ? { replaces: { id: ref, ...(last ? {} : { fallbackLength: 2 }) } } : {}) };
}

async function hadCaption({ rooms }: EditsDeps, destination: XmppDestination, eventId: string): Promise<boolean> {
  const original = await rooms.event(destination.roomId, eventId, destination.viewer);
  return original?.kind === "message" && original.message.file?.caption !== undefined;
}

/** The Matrix edit of `edited` with this new content; its body is the fallback for clients without edits. */
export function editOnMatrix(content: Record<string, unknown>, body: string, edited: string): Record<string, unknown> {
  return { ...content, body: editFallbackBody(body), "m.new_content": content, "m.relates_to": { rel_type: "m.replace", event_id: edited } };
}
