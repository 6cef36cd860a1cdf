/**
 * The notices the bridge bot posts in Matrix rooms when something did not cross, in one place so
 * their wording can be read and reviewed together. Pure functions: each takes the variable parts.
 */
import type { SharedFile } from "./model.js";

// Matrix -> XMPP.

/** A room member's puppet could not join the MUC. */
export const puppetCannotJoin = (who: string, muc: string, reason: string): string =>
  `${who} could not join ${muc} on XMPP (${reason}); their messages will not reach it.`;

/** A MUC's server leaves joins unanswered: messages wait, for a while. */
export const mucUnanswered = (muc: string, giveUpMs: number): string =>
  `${muc} does not answer on XMPP: messages for it wait, and are given up if it still does not answer after ${Math.round(giveUpMs / 60_000)} minutes.`;

/** The sender's puppet could not join the MUC, so their message stayed on Matrix. */
export const messageNotDelivered = (muc: string, reason: string): string =>
  `Your message could not be delivered to ${muc}: your XMPP puppet could not join the room (${reason}).`;

/** A ban of an occupant whose address the MUC hides is a kick instead. */
export const kickedInsteadOfBanned = (nick: string): string =>
  `${nick} cannot be banned on XMPP: the MUC does not reveal their address. They were kicked instead.`;

/** The MUC refused to kick or ban an occupant. */
export const removalRefused = (nick: string, muc: string, action: "kick" | "ban", condition: string): string =>
  `${nick} is still in ${muc} on XMPP: the MUC refused to ${action} them (${condition}).`;

/** The MUC refused to remove a message. */
export const messageRemovalRefused = (muc: string, condition: string): string =>
  `The message is still there on XMPP: ${muc} refused to remove it (${condition}).`;

/** A Matrix file could not be shared with XMPP. */
export const fileNotDelivered = (name: string | undefined, reason: string): string =>
  `${name ?? "A file"} could not be delivered to XMPP: ${reason}.`;

/** A room avatar that XMPP could not show. */
export const roomAvatarNotShown = (muc: string): string => `The new room avatar is not an image XMPP can show; ${muc} keeps its own.`;

/** The MUC refused a change of its name, subject or avatar. */
export function roomChangeRefused(what: string, muc: string, condition: string): string {
  const why = condition === "forbidden" ? "only its owners may change it" : condition;
  return `The room ${what} did not change on XMPP: ${muc} refused it (${why}).`;
}

// XMPP -> Matrix.

/** The MUC answered a puppet's message or subject with an error. */
export function mucRefused(muc: string, what: string, sender: string | undefined, condition: string | undefined): string {
  const why = condition === "forbidden" ? "not allowed" : (condition ?? "refused");
  return `${muc} on XMPP did not take ${what} from ${sender ?? "a Matrix user"}: ${why}.`;
}

/** A MUC moderator removed the puppet of a plumbed room's member. */
export const puppetRemoved = (matrixUser: string, what: "kicked" | "banned", muc: string): string =>
  `${matrixUser} was ${what} from ${muc} on XMPP; their messages no longer reach it.`;

/** A file an XMPP user shared could not be bridged: what, why, and the link to try themselves. */
export const fileNotBridged = (file: SharedFile, reason: string): string =>
  `A file${file.name ? ` (${file.name})` : ""} could not be bridged: ${reason}. Link: ${file.url}`;

// Delivery status.

/** Why the homeserver would not take a message from XMPP, by its Matrix error code. */
export function refusedByMatrix(errcode: string | undefined): string {
  if (errcode === "M_FORBIDDEN") return "the Matrix room does not allow it";
  if (errcode === "M_TOO_LARGE") return "it is too large for Matrix";
  return errcode ? `the Matrix homeserver refused it (${errcode})` : "the bridge could not post it on Matrix";
}

/**
 * The rate limit holds a sender's messages: told once per burst, to the XMPP user by a message from
 * the bridge, to the Matrix user by a notice in the room that names them.
 */
export const heldByRateLimit = (otherSide: "Matrix" | "XMPP", limit: { messagesPerMinute: number; burst: number }): string =>
  `You are sending faster than the bridge passes messages on to ${otherSide} (${limit.burst} at once, then ${limit.messagesPerMinute} a minute). ` +
  `Your next messages arrive late, in the order you sent them; none is lost. Other people's messages go first meanwhile.`;

/** The text of the error an XMPP user gets for a message that will never reach Matrix. */
export const notDeliveredToMatrix = (why: string): string => `Your message was not delivered to Matrix: ${why}.`;

/** A failure of the bridge's own, by its error's message (cut short). */
export const bridgeFailed = (message: string): string => `the bridge could not send it (${message.length > 200 ? `${message.slice(0, 199)}…` : message})`;

/** A Matrix message that will never reach XMPP, in a notice replying to it. */
export const notDeliveredToXmpp = (why: string): string => `This message was not delivered to XMPP: ${why}.`;

/** Why XMPP sent a message back, by the error's condition (RFC 6120 §8.3.3) and its text, if any. */
export function bouncedOnXmpp(xmppUser: string, condition: string | undefined, text: string | undefined): string {
  const why =
    condition === "service-unavailable" || condition === "item-not-found" || condition === "recipient-unavailable"
      ? `${xmppUser} cannot be reached (${condition})`
      : condition === "remote-server-not-found" || condition === "remote-server-timeout"
        ? `the XMPP server of ${xmppUser} cannot be reached (${condition})`
        : `${xmppUser}'s server refused it (${condition ?? "an error"})`;
  return text ? `${why}: ${text}` : why;
}

/** The MUC was destroyed on XMPP: the room is no longer bridged; where the conversation went, if the MUC said. */
export function mucDestroyed(muc: string, reason: string | undefined, alternate: { muc: string; alias?: string } | undefined): string {
  const moved = alternate ? ` The conversation moved to ${alternate.muc}${alternate.alias ? `: join ${alternate.alias} to follow it` : ""}.` : "";
  return `${muc} was destroyed on XMPP${reason ? ` (${reason})` : ""}: this room is no longer bridged.${moved}`;
}

// Encrypted Matrix rooms: the bridge holds no keys.

/** A ghost was invited into an encrypted room: it says why it cannot stay (also its reason for leaving). */
export const encryptedRoomDeclined = (xmppUser: string): string =>
  `${xmppUser} is on XMPP, through a bridge that cannot read encrypted rooms: nothing said here would reach them. Invite them to a room without encryption.`;

/** A bridged room turned encryption on: nothing crosses any more, and the link is gone. */
export const roomNowEncrypted = (remote: string): string =>
  `This room is now encrypted, and the bridge cannot read encrypted rooms: it is no longer bridged to ${remote} on XMPP.`;
