import type { Link, XmppMessageIds } from "../../core/model.js";
import type { OutgoingMessage, OutgoingSignal } from "../../xmpp/stanzas.js";

/** A message or signal as a capability writes it: where it goes and from whom is the destination's business. */
export type MessageOut = Omit<OutgoingMessage, "from" | "to" | "type">;
export type SignalOut = Omit<OutgoingSignal, "from" | "to" | "type">;

/**
 * Where a bridged Matrix room's doings go on XMPP, and how a Matrix user speaks there. Capabilities
 * write against this, never against a kind of room: a new kind of room is a new implementation.
 */
export interface XmppDestination {
  readonly link: Link;
  readonly roomId: string;
  /** The MUC the room is linked to; undefined for a DM. */
  readonly muc: string | undefined;
  /** The conversation key of the message map and the lanes. */
  readonly conversation: string;
  /** A bridge user who is in the Matrix room, to read events there. */
  readonly viewer: string;
  /** The id other messages use to point at a message (a reply, a reaction, a retraction). */
  refOf(ids: XmppMessageIds): string | undefined;
  /** The id a correction (XEP-0308) names the message it corrects by. */
  correctionRefOf(ids: XmppMessageIds): string | undefined;
  /** Whether the user speaks there already, so that signals (typing, markers) may go without joining. */
  isIn(matrixUser: string): boolean;
  /** Makes the user able to speak there (their puppet joins a MUC), or tells them why not; true when sending may go on. */
  ready(matrixUser: string): Promise<boolean>;
  /** The address the user speaks from there. */
  addressOf(matrixUser: string): string;
  send(matrixUser: string, message: MessageOut, what?: string): Promise<void>;
  signal(matrixUser: string, signal: SignalOut, what: string): Promise<void>;
}
