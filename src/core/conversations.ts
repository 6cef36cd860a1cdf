/**
 * The keys both sides agree on: which conversation (the lane of queued work and the message map's
 * key) a message belongs to, and the id a Matrix event's message carries on XMPP.
 */

/** A DM's conversation: the XMPP user with one Matrix user. A MUC's conversation is the MUC's JID. */
export const dmConversation = (xmppUser: string, matrixUser: string): string => `dm:${xmppUser}:${matrixUser}`;

/** The id a Matrix event's message carries on XMPP (stanza id and origin-id): stable across retries. */
export const xmppIdOf = (eventId: string): string => eventId.replace(/^\$/, "");
