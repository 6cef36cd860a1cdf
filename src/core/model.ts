import type { MatrixMediaMessage } from "./media.js";
import type { Mention } from "./mentions.js";
import type { MatrixText } from "./messages.js";
import type { SubscriptionType, UserPresence } from "./presence.js";
import type { PowerLevels } from "./gateway.js";

/**
 * The protocol-neutral model: what each side's adapter parses its input into, and what the other
 * side's adapter renders. Nothing here knows a library or a wire format.
 */

/** A stored pairing of a Matrix room with an XMPP conversation. */
export type Link =
  | { kind: "portal" | "plumbed"; roomId: string; muc: string }
  /** A Matrix room offered to XMPP users as a MUC on the component domain; `muc` is that room's JID. */
  | { kind: "gateway"; roomId: string; muc: string }
  | { kind: "dm"; roomId: string; matrixUser: string; xmppUser: string };

/** The XMPP ids one message carries (XEP-0359): enough to find it again from any reference. */
export interface XmppMessageIds {
  /** The stanza's id attribute. */
  id?: string;
  /** origin-id: set by the sender's client, kept by servers. */
  originId?: string;
  /** stanza-id assigned by the MUC (by = room JID) or the user's server; what MUC references use. */
  stanzaId?: string;
}

/** A message written by a person, on either side. */
export interface ChatMessage {
  /** Plain text, as the reader should see it when nothing richer can be shown (XEP-0393 styling included). */
  body: string;
  /** The same text as sanitized Matrix HTML, when it has formatting. */
  html?: string;
  /** A Matrix "emote" (/me) or an XMPP body starting with "/me ". */
  emote?: boolean;
  /** Server time the message was sent, when it is not now (offline delivery, history). */
  sentAt?: number;
}

/**
 * A file shared in a message: by link on XMPP (XEP-0066 OOB, XEP-0447), in the media repository on
 * Matrix (an mxc:// URI). What the sender said about it is a claim, checked before it is believed.
 */
export interface SharedFile {
  url: string;
  name?: string;
  mediaType?: string;
  size?: number;
  width?: number;
  height?: number;
  /** Playing time of audio or video, in milliseconds. */
  durationMs?: number;
  /** A small image of it (XEP-0264), shown before the file is downloaded. */
  thumbnailUrl?: string;
}

/** A message from XMPP, parsed: who wrote it, where, and how to find it again. */
export interface XmppInboundMessage extends ChatMessage {
  /** The name the sender gave themselves (XEP-0172 user nickname), when the message carries one. */
  senderName?: string;
  /** A correction (XEP-0308) of the sender's message with this id. */
  replaces?: string;
  /** A reply (XEP-0461) to the message with this id; its quote fallback is cut from the body and kept here. */
  replyTo?: { id: string; quote: string };
  /** A retraction (XEP-0424) of the sender's message with this id. */
  retracts?: string;
  /** The sender's whole set of reactions (XEP-0444) to the message with this id; empty removes them all. */
  reactions?: { id: string; emojis: string[] };
  /** The sender has read up to the message with this id (XEP-0333 displayed). */
  displayed?: string;
  /** The sender's chat state (XEP-0085): composing means typing, anything else means not. */
  typing?: boolean;
  /** The conversation thread (XEP-0201) the message belongs to. */
  thread?: string;
  /** Files the message shares; the body, with their links cut out, is their caption. */
  files?: SharedFile[];
  /** Matrix users the text names by their MUC nick. */
  mentions?: Mention[];
  /** The sender asked to be told once the message is delivered (XEP-0184). */
  receiptRequested?: boolean;
  conversation:
    /** `from`: the sender's full JID, which answers about the message (a receipt, an error) go to. */
    | { kind: "dm"; xmppUser: string; matrixUser: string; from?: string }
    | { kind: "muc"; muc: string; nick: string; occupantKey: string; realJid?: string }
    /** Sent by an XMPP user (`occupant` is the full JID of their resource) to a gateway room. */
    | { kind: "gateway"; room: string; occupant: string; xmppUser: string };
  ids: XmppMessageIds;
}

/** Presence of a MUC occupant, as far as the bridge needs it to mirror membership. */
export interface OccupantPresence {
  muc: string;
  nick: string;
  /** Who the occupant is across nick changes: occupant-id (XEP-0421), else the real JID, else the nick. */
  occupantKey: string;
  realJid?: string;
  available: boolean;
  /** The occupant is the recipient itself (status code 110). */
  self: boolean;
  /** Removed by a moderator (status 307 kick, 301 ban). */
  removedBy?: "kick" | "ban";
  /** Changing nick (status 303): the new nick. */
  newNick?: string;
  /** The avatar's SHA-1 the presence announces (XEP-0153); "" for none; absent when it does not say. */
  avatarHash?: string;
}

/** What the XMPP side queues for Matrix, one entry per change, in the order it happened. */
export type XmppEvent =
  | { kind: "message"; message: XmppInboundMessage }
  /**
   * puppetOf: the Matrix user whose own puppet a moderator removed. via: the puppet that heard it, which
   * may ask a hidden occupant's vCard through the room.
   */
  | { kind: "occupant"; presence: OccupantPresence; change: "joined" | "left" | "renamed" | "avatar"; puppetOf?: string; via?: string }
  /** The MUC's subject, sent to each occupant on joining and to all on change. */
  | { kind: "subject"; muc: string; subject: string }
  /** A MUC moderator removed a message (XEP-0425). */
  | { kind: "moderation"; muc: string; stanzaId: string; by?: string; reason?: string }
  /** A MUC echoed a puppet's own message: only its stanza-id is news. */
  | { kind: "reflection"; muc: string; ids: XmppMessageIds }
  /**
   * The MUC's configuration changed (status 104) or it announced an avatar: its name or avatar may be new. avatarHash is
   * the hash the room announced in its own presence (vcard-temp:x:update), "" for none, used when its disco#info gives none.
   */
  | { kind: "room-changed"; muc: string; avatarHash?: string }
  /** The MUC refused something a puppet sent (a subject change, a message), by the id it was sent with. */
  | { kind: "refused"; muc: string; id: string; condition?: string }
  /** An XMPP user's server sent back for good what the Matrix user's puppet wrote them in a DM, by its id. */
  | { kind: "bounced"; xmppUser: string; matrixUser: string; id: string; condition?: string; text?: string }
  /** The MUC was destroyed (XEP-0045 §10.9), maybe naming where its conversation moved (`alternate`, a MUC's JID). */
  | { kind: "room-destroyed"; muc: string; alternate?: string; reason?: string }
  /**
   * An XMPP user (`from`, full or bare JID) asks for, grants or ends a presence subscription with a
   * Matrix user's puppet, or probes it: queued like a message, so that none is lost while the store is away.
   */
  | { kind: "subscription"; type: SubscriptionType; from: string; matrixUser: string }
  /**
   * An XMPP user's resource (`occupant`, a full JID) enters a gateway room under `nick`, or changes its
   * nick there, or (available: false) leaves it. `history` is what its <history/> asked for.
   */
  | { kind: "gateway-presence"; room: string; occupant: string; nick: string; available: boolean; history?: HistoryRequest };

/** XEP-0045 §7.2.15: how much of the room's history a joining occupant wants. */
export interface HistoryRequest {
  maxstanzas?: number;
  maxchars?: number;
  seconds?: number;
  /** Milliseconds since the epoch. */
  since?: number;
}

export type XmppEventKind = XmppEvent["kind"];
export type XmppEventOf<K extends XmppEventKind> = Extract<XmppEvent, { kind: K }>;

/** A message's content as the bridge reads it: its text, the file it shares, whom it mentions. */
export interface MatrixMessageContent extends MatrixText {
  /** The file of a media msgtype or a sticker (url an mxc:// URI), with its caption if any. */
  file?: MatrixMediaMessage;
  /** Users named in m.mentions, which is what notifies. */
  mentions: string[];
}

/** An m.room.message or m.sticker (msgtype "m.sticker") with its relations. */
export interface MatrixMessage extends MatrixMessageContent {
  /** m.replace: the edited event and its new content. */
  edit?: { target: string; newContent: MatrixMessageContent };
  /** m.in_reply_to, unless only a thread's fallback; body and html then come without the reply fallback. */
  replyTo?: string;
  /** m.thread: the thread's root event. */
  threadRoot?: string;
}

export type Membership = "invite" | "join" | "knock" | "leave" | "ban";

export interface RoomEvent {
  roomId: string;
  sender: string;
  eventId: string;
}

/** What the homeserver sends that the bridge acts on, one entry per event, as src/matrix/events.ts parses it. */
export type MatrixInbound =
  | (RoomEvent & { kind: "message"; message: MatrixMessage })
  /** An m.annotation: `sender` reacted with `key` to `target`. */
  | (RoomEvent & { kind: "reaction"; target: string; key: string })
  | (RoomEvent & { kind: "redaction"; redacts: string; reason?: string })
  /** `sender` changed `target`'s membership (their own, or someone else's: an invite, kick or ban). */
  /** `direct`: an invite to a direct chat (is_direct). `roomEncrypted`: an invite into a room with encryption on. */
  | (RoomEvent & { kind: "membership"; target: string; membership: Membership; displayName?: string; avatarUrl?: string; reason?: string; direct?: boolean; roomEncrypted?: true })
  /** The room turned on end-to-end encryption (m.room.encryption): the bridge cannot read it from now on. */
  | (RoomEvent & { kind: "encryption" })
  /** The room's topic, name or avatar (an mxc:// URI); "" when removed. */
  | (RoomEvent & { kind: "room-state"; field: RoomStateField; value: string })
  /** The room's power levels changed: who may do what, which is a MUC occupant's standing. */
  | (RoomEvent & { kind: "power-levels"; levels: PowerLevels })
  /** Everyone typing in the room now. */
  | { kind: "typing"; roomId: string; userIds: string[] }
  /** Public read receipts (m.read): who has read up to which event. */
  | { kind: "receipt"; roomId: string; reads: { eventId: string; readers: string[] }[] }
  | { kind: "presence"; sender: string; presence: UserPresence };

export type MatrixInboundKind = MatrixInbound["kind"];
export type MatrixInboundOf<K extends MatrixInboundKind> = Extract<MatrixInbound, { kind: K }>;
export type RoomStateField = "topic" | "name" | "avatar";
