import type { Link, XmppMessageIds } from "../core/model.js";

/**
 * Everything the bridge keeps lives behind this interface; src/store/redis-store.ts is the one
 * implementation. Key layout: docs/store.md.
 */

/** One piece of work waiting in an outbox: the payload is the JSON of a parsed event or stanza. */
export interface OutboxEntry {
  readonly lane: string;
  readonly payload: string;
}

export interface BridgeStore {
  /** Round trip to the store; rejects when it is away. */
  ping(): Promise<void>;
  /**
   * Whether the store is connected now. While it is not, every call fails at once rather than waiting
   * for it: a failure then says nothing about the work itself, which is retried, never dropped.
   */
  isAvailable(): boolean;
  /** Calls `listener` each time the store is reachable again after it was not. */
  onAvailable(listener: () => void): void;

  /**
   * Records a homeserver transaction and appends its entries to their outboxes, in each lane at once with
   * the transaction's ID. Returns false, and appends nothing, when this transaction ID was accepted before;
   * one stored in some lanes only (a crash between them) is completed in the others.
   */
  acceptTransaction(txnId: string, entries: readonly OutboxEntry[]): Promise<boolean>;

  /** Appends one entry to the end of an outbox. */
  appendToOutbox(entry: OutboxEntry): Promise<void>;
  /**
   * Appends the entry unless the same onceKey was appended to its lane within ttlSeconds: one XMPP message
   * reaches every puppet in a room, and clients resend after reconnecting. Returns false for a repeat.
   */
  appendToOutboxOnce(entry: OutboxEntry, onceKey: string, ttlSeconds: number): Promise<boolean>;
  /**
   * The oldest entries of an outbox, at most `count`, left in place until removeFromOutbox. With a fencing
   * token (LeaseStore.fence), reading claims the lane for it: it fails with FencedError where a newer one did.
   */
  peekOutbox(lane: string, count: number): Promise<string[]>;
  /**
   * Removes the oldest entries of an outbox if they are still `payloads` (as peekOutbox gave them);
   * otherwise nothing. So a removal that ran but whose answer was lost with the connection, and is
   * then sent again, removes nothing more.
   */
  removeFromOutbox(lane: string, payloads: readonly string[]): Promise<void>;
  /** Lanes that hold entries: after a restart, these are drained first. */
  pendingLanes(): Promise<string[]>;
  /** How many entries each known lane holds (for the metrics; changes nothing). */
  outboxDepths(): Promise<Map<string, number>>;
  /** The oldest entry of each lane that holds any (for the metrics; changes nothing). */
  outboxHeads(): Promise<Map<string, string>>;

  saveLink(link: Link): Promise<void>;
  removeLink(link: Link): Promise<void>;
  linkByRoom(roomId: string): Promise<Link | undefined>;
  linkByMuc(muc: string): Promise<Link | undefined>;
  dmLink(matrixUser: string, xmppUser: string): Promise<Link | undefined>;
  links(): Promise<Link[]>;

  /**
   * The message map: a Matrix event and the XMPP ids of the same message, in one conversation
   * (a MUC's JID, or the XMPP user's bare JID for a DM). Kept for ttlSeconds.
   */
  recordMessage(entry: MessageMapEntry, ttlSeconds: number): Promise<void>;
  eventIdForXmppId(conversation: string, xmppId: string): Promise<string | undefined>;
  messageByEventId(eventId: string): Promise<MessageMapEntry | undefined>;

  /**
   * Reactions, both ways: for each reacted-to event and reacting user, the emoji they reacted with and
   * the m.reaction event that carries each. XEP-0444 sends a user's whole set, Matrix one event per emoji.
   */
  reactionsOf(target: string, sender: string): Promise<Map<string, string>>;
  recordReaction(reaction: ReactionEntry, ttlSeconds: number): Promise<void>;
  forgetReaction(reaction: ReactionEntry): Promise<void>;
  reactionByEventId(eventId: string): Promise<ReactionEntry | undefined>;

  /** Matrix threads as XMPP sees them: a XEP-0201 thread id in a conversation and the thread's root event. */
  setThreadRoot(conversation: string, thread: string, rootEventId: string, ttlSeconds: number): Promise<void>;
  threadRoot(conversation: string, thread: string): Promise<string | undefined>;

  /** The last message a Matrix user sent in a conversation: XMPP clients may only show corrections of that one. */
  setLastMessage(conversation: string, sender: string, eventId: string, ttlSeconds: number): Promise<void>;
  lastMessage(conversation: string, sender: string): Promise<string | undefined>;

  /** When the last message from a MUC reached Matrix: on rejoining, history since then is asked for. */
  setMucDeliveredUntil(muc: string, time: number): Promise<void>;
  mucDeliveredUntil(muc: string): Promise<number | undefined>;
  /** The stanza-id (XEP-0359) of the last message from a MUC that reached Matrix: its archive (XEP-0313) is read after it. */
  setMucLastStanzaId(muc: string, stanzaId: string): Promise<void>;
  mucLastStanzaId(muc: string): Promise<string | undefined>;

  /** The MUC nick each Matrix user's puppet holds, so puppets rejoin after a restart. */
  setPuppetOccupancy(muc: string, matrixUser: string, nick: string | undefined): Promise<void>;
  puppetOccupancy(): Promise<PuppetOccupancy[]>;
  /** An XMPP user's resource (`occupant`, a full JID) is in a gateway room under `nick`; undefined: it left. */
  setGatewayOccupant(room: string, occupant: string, nick: string | undefined): Promise<void>;
  /** The resources in a gateway room, with their nicks. */
  gatewayOccupants(room: string): Promise<Map<string, string>>;

  /**
   * XMPP users (bare JIDs) subscribed to a Matrix user's puppet's presence (RFC 6121 §3), so that
   * Matrix presence still reaches them after a restart.
   */
  addPresenceSubscriber(matrixUser: string, xmppUser: string): Promise<void>;
  removePresenceSubscriber(matrixUser: string, xmppUser: string): Promise<void>;
  presenceSubscribers(matrixUser: string): Promise<string[]>;
  /** Every subscription: on start, each puppet probes its subscribers' presence. */
  presenceSubscriptions(): Promise<PresenceSubscription[]>;

  /**
   * What the bridge knows of a ghost's profile: the avatar hash its XMPP user last announced (so a
   * restart does not fetch it again) and the name it last took from their vCard.
   */
  ghostProfile(ghost: string): Promise<GhostProfileState>;
  setGhostProfile(ghost: string, state: GhostProfileState): Promise<void>;

  /**
   * Memberships in Matrix rooms as the homeserver last told them ("join", "invite", "leave", "ban"),
   * so that a restart need not ask it again; undefined when none was told (or it was forgotten because
   * the bridge itself changed it).
   */
  membershipOf(roomId: string, userId: string): Promise<string | undefined>;
  setMembership(roomId: string, userId: string, membership: string): Promise<void>;
  forgetMembership(roomId: string, userId: string): Promise<void>;

  /** Avatars uploaded to the homeserver, by the SHA-1 of their bytes: each distinct image goes up once. */
  uploadedAvatar(sha1: string): Promise<string | undefined>;
  setUploadedAvatar(sha1: string, mxc: string): Promise<void>;

  /** Matrix avatars as XMPP sees them: the SHA-1 and type of the bytes the bridge serves for an mxc URI. */
  matrixAvatar(mxc: string): Promise<MatrixAvatarInfo | undefined>;
  setMatrixAvatar(mxc: string, info: MatrixAvatarInfo): Promise<void>;

  /** The MUC avatar hash (XEP-0486) the linked room's avatar was last brought in line with; "" for none. */
  mucAvatar(muc: string): Promise<string | undefined>;
  setMucAvatar(muc: string, hash: string): Promise<void>;

  close(): Promise<void>;
}

export interface GhostProfileState {
  avatarHash?: string;
  vcardName?: string;
}

export interface MatrixAvatarInfo {
  sha1: string;
  mediaType: string;
}

export interface MessageMapEntry {
  roomId: string;
  eventId: string;
  conversation: string;
  ids: XmppMessageIds;
  /** Who wrote it, as a Matrix user ID (a ghost for XMPP users): only the author may retract it. */
  sender?: string;
}

export interface ReactionEntry {
  /** The event reacted to. */
  target: string;
  /** The Matrix user (or ghost) reacting. */
  sender: string;
  key: string;
  /** The m.reaction event. */
  eventId: string;
}

export interface PresenceSubscription {
  matrixUser: string;
  xmppUser: string;
}

export interface PuppetOccupancy {
  muc: string;
  matrixUser: string;
  nick: string;
}
