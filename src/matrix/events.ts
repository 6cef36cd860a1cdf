import { z } from "zod";
import { stripMatrixReplyFallback } from "../core/formatting.js";
import { fileOfMatrixContent } from "../core/media.js";
import type { MatrixInbound, MatrixMessage, MatrixMessageContent, RoomEvent } from "../core/model.js";
import { fromMatrixPresence } from "../core/presence.js";
import type { Logger } from "../log.js";

/**
 * Matrix events, parsed once where they enter: the homeserver's JSON becomes the core model's
 * `MatrixInbound`, the mirror of `XmppEvent`. Nothing past this module reads an event's raw content.
 */

/**
 * The result of reading one event: parsed, not a kind the bridge acts on, or malformed (and why). A
 * message whose body is usable is read even when other fields are malformed: what they would have
 * added (formatting, mentions, a relation) is left out, and `degraded` says which field was wrong.
 */
export type MatrixEventReading = { event: MatrixInbound; degraded?: string } | { ignored: string } | { rejected: string };

const HTML_FORMAT = "org.matrix.custom.html";

const id = z.string().min(1);
const roomEvent = z.object({ room_id: id, sender: id, event_id: id });
const mentions = z.object({ user_ids: z.array(z.string()).optional() });
const bodyContent = z.object({ body: z.string() });
const optionalText = z.string().optional();
const relatesTo = z.object({
  rel_type: z.string().optional(),
  event_id: id.optional(),
  is_falling_back: z.boolean().optional(),
  "m.in_reply_to": z.object({ event_id: id }).optional(),
});
const relation = z.object({ "m.relates_to": relatesTo.optional(), "m.new_content": z.unknown().optional() });

const membershipEvent = roomEvent.extend({
  state_key: id,
  content: z.object({
    membership: z.enum(["invite", "join", "knock", "leave", "ban"]),
    displayname: z.string().nullish(),
    avatar_url: z.string().nullish(),
    reason: z.string().optional(),
    is_direct: z.boolean().optional(),
  }),
});
const reactionEvent = roomEvent.extend({
  content: z.object({ "m.relates_to": z.object({ rel_type: z.literal("m.annotation"), event_id: id, key: z.string().min(1) }) }),
});
/** Room versions up to 10 carry `redacts` at the top, 11 in the content. */
const redactionEvent = roomEvent.extend({
  redacts: id.optional(),
  content: z.object({ redacts: id.optional(), reason: z.string().optional() }),
});
/** Each room state event's field; "" when the content leaves it out (an avatar removed). */
const ROOM_STATE = {
  "m.room.topic": { field: "topic", value: z.object({ content: z.object({ topic: z.string().optional() }) }).transform(({ content }) => content.topic ?? "") },
  "m.room.name": { field: "name", value: z.object({ content: z.object({ name: z.string().optional() }) }).transform(({ content }) => content.name ?? "") },
  "m.room.avatar": { field: "avatar", value: z.object({ content: z.object({ url: z.string().optional() }) }).transform(({ content }) => content.url ?? "") },
} as const;
const powerLevelsEvent = roomEvent.extend({
  state_key: z.literal(""),
  content: z.object({ users: z.record(z.string(), z.number()).optional(), users_default: z.number().optional(), events_default: z.number().optional() }),
});
const typingEvent = z.object({ room_id: id, content: z.object({ user_ids: z.array(z.string()) }) });
// m.read.private stays private: the other keys of a receipt are dropped here.
const receiptEvent = z.object({ room_id: id, content: z.record(z.string(), z.object({ "m.read": z.record(z.string(), z.unknown()).optional() })) });
const presenceEvent = z.object({ sender: id, content: z.object({ presence: z.string(), status_msg: z.unknown().optional() }) });

class Malformed extends Error {}

/** The first problem as a reason that names a field (`at` the value's place), never its value. */
function reasonOf(error: z.ZodError, at: readonly string[]): string {
  const issue = error.issues[0];
  return issue ? `${[...at, ...issue.path.map(String)].join(".") || "event"}: ${issue.message}` : "invalid";
}

/** Parses with the schema, or throws the first problem (see reasonOf). */
function parse<T extends z.ZodType>(schema: T, value: unknown, at: readonly string[] = []): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new Malformed(reasonOf(result.error, at));
}

/** Why parts of a message were left out; the first is what the log says. */
type Notes = string[];

/** Parses an optional part of a message: undefined, and a note of why, when it is malformed. */
function lenient<T extends z.ZodType>(schema: T, value: unknown, at: readonly string[], notes: Notes): z.output<T> | undefined {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  notes.push(reasonOf(result.error, at));
  return undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A message's text: its body is required; a malformed msgtype is m.text, malformed formatting or mentions are left out. */
function messageContent(content: unknown, eventType: string, at: readonly string[], notes: Notes): MatrixMessageContent {
  const { body } = parse(bodyContent, content, at);
  const fields = content as Record<string, unknown>;
  const msgtype = eventType === "m.sticker" ? "m.sticker" : (lenient(z.string(), fields.msgtype, [...at, "msgtype"], notes) ?? "m.text");
  const userIds = lenient(mentions.optional(), fields["m.mentions"], [...at, "m.mentions"], notes)?.user_ids ?? [];
  const read: MatrixMessageContent = { msgtype, body, mentions: userIds };
  const format = lenient(optionalText, fields.format, [...at, "format"], notes);
  const html = lenient(optionalText, fields.formatted_body, [...at, "formatted_body"], notes);
  if (format === HTML_FORMAT && html !== undefined) read.html = html;
  const file = fileOfMatrixContent(fields, eventType);
  if (file) read.file = file;
  return read;
}

/** A message; a malformed relation is left out (an edit is then a new message with its fallback body). */
function message(raw: Record<string, unknown>, eventType: string, notes: Notes): MatrixMessage {
  const read: MatrixMessage = messageContent(raw.content, eventType, ["content"], notes);
  const relates = lenient(relation, raw.content, ["content"], notes)?.["m.relates_to"];
  if (!relates) return read;
  if (relates.rel_type === "m.replace") {
    const newContent = (raw.content as Record<string, unknown>)["m.new_content"];
    if (!relates.event_id) notes.push("content.m.relates_to: an edit names no event");
    else if (newContent === undefined) notes.push("content.m.new_content: an edit has no new content");
    else {
      try {
        return { ...read, edit: { target: relates.event_id, newContent: messageContent(newContent, eventType, ["content", "m.new_content"], notes) } };
      } catch (err) {
        if (!(err instanceof Malformed)) throw err;
        notes.push(err.message);
      }
    }
    return read;
  }
  if (relates.rel_type === "m.thread") {
    if (relates.event_id) read.threadRoot = relates.event_id;
    else notes.push("content.m.relates_to: a thread names no root");
  }
  const inReplyTo = relates["m.in_reply_to"]?.event_id;
  // In a thread, a reply marked is_falling_back only exists for clients that cannot show threads.
  if (inReplyTo && !(read.threadRoot && relates.is_falling_back === true)) {
    read.replyTo = inReplyTo;
    const stripped = stripMatrixReplyFallback({ body: read.body, ...(read.html !== undefined ? { formatted_body: read.html } : {}) });
    read.body = stripped.body;
    if (stripped.formatted_body !== undefined) read.html = stripped.formatted_body;
  }
  return read;
}

/** Whether an invite's room state (what the homeserver shows the invited user) says the room is encrypted. */
function invitedToEncryptedRoom(raw: Record<string, unknown>): boolean {
  const state = isRecord(raw.unsigned) ? raw.unsigned.invite_room_state : undefined;
  return Array.isArray(state) && state.some((e) => isRecord(e) && e.type === "m.room.encryption");
}

function roomEventOf(raw: unknown): RoomEvent {
  const { room_id: roomId, sender, event_id: eventId } = parse(roomEvent, raw);
  return { roomId, sender, eventId };
}

function read(raw: Record<string, unknown>, type: string, notes: Notes): MatrixInbound | undefined {
  switch (type) {
    case "m.room.message":
    case "m.sticker":
      return { kind: "message", ...roomEventOf(raw), message: message(raw, type, notes) };
    case "m.reaction": {
      const { content } = parse(reactionEvent, raw);
      return { kind: "reaction", ...roomEventOf(raw), target: content["m.relates_to"].event_id, key: content["m.relates_to"].key };
    }
    case "m.room.redaction": {
      const { redacts, content } = parse(redactionEvent, raw);
      const target = redacts ?? content.redacts;
      if (!target) throw new Malformed("redacts: no event named");
      return { kind: "redaction", ...roomEventOf(raw), redacts: target, ...(content.reason !== undefined ? { reason: content.reason } : {}) };
    }
    case "m.room.member": {
      const { state_key: target, content } = parse(membershipEvent, raw);
      const event: MatrixInbound = { kind: "membership", ...roomEventOf(raw), target, membership: content.membership };
      if (content.displayname) event.displayName = content.displayname;
      if (content.avatar_url) event.avatarUrl = content.avatar_url;
      if (content.reason !== undefined) event.reason = content.reason;
      if (content.is_direct) event.direct = true;
      if (content.membership === "invite" && invitedToEncryptedRoom(raw)) event.roomEncrypted = true;
      return event;
    }
    case "m.room.power_levels": {
      const { content } = parse(powerLevelsEvent, raw);
      return { kind: "power-levels", ...roomEventOf(raw), levels: content };
    }
    case "m.room.topic":
    case "m.room.name":
    case "m.room.avatar": {
      // Only the room's own state (state key "") is its topic, name or avatar.
      if (raw.state_key !== "") return undefined;
      const { field, value } = ROOM_STATE[type];
      return { kind: "room-state", ...roomEventOf(raw), field, value: parse(value, raw) };
    }
    case "m.room.encryption":
      return raw.state_key === "" ? { kind: "encryption", ...roomEventOf(raw) } : undefined;
    case "m.typing": {
      const { room_id: roomId, content } = parse(typingEvent, raw);
      return { kind: "typing", roomId, userIds: content.user_ids };
    }
    case "m.receipt": {
      const { room_id: roomId, content } = parse(receiptEvent, raw);
      const reads = Object.entries(content).map(([eventId, receipt]) => ({ eventId, readers: Object.keys(receipt["m.read"] ?? {}) }));
      return { kind: "receipt", roomId, reads: reads.filter((r) => r.readers.length > 0) };
    }
    case "m.presence": {
      const { sender, content } = parse(presenceEvent, raw);
      const presence = fromMatrixPresence(content);
      if (!presence) throw new Malformed("content.presence: not a presence state");
      return { kind: "presence", sender, presence };
    }
    default:
      return undefined;
  }
}

/** Reads one event of a transaction (or one fetched from the homeserver). */
export function parseMatrixEvent(raw: unknown): MatrixEventReading {
  if (!isRecord(raw) || typeof raw.type !== "string") return { rejected: "not an event: no type" };
  // A redacted event keeps only the keys redaction leaves: there is nothing left to bridge.
  if (isRecord(raw.unsigned) && raw.unsigned.redacted_because !== undefined) return { ignored: "redacted" };
  try {
    const notes: Notes = [];
    const event = read(raw, raw.type, notes);
    if (!event) return { ignored: "not a kind the bridge acts on" };
    return notes.length > 0 ? { event, degraded: notes[0]! } : { event };
  } catch (err) {
    if (err instanceof Malformed) return { rejected: err.message };
    throw err;
  }
}

/** The parsed event, or undefined after one log line saying which event was rejected and why. */
export function readMatrixEvent(raw: unknown, log: Logger): MatrixInbound | undefined {
  const reading = parseMatrixEvent(raw);
  // Only strings are written out: anything else may not even turn into one.
  const named = (value: unknown): string => (typeof value === "string" ? value.slice(0, 255) : typeof value);
  const which = isRecord(raw) ? { eventId: named(raw.event_id), type: named(raw.type) } : {};
  if ("event" in reading) {
    if (reading.degraded) log.warn({ ...which, reason: reading.degraded }, "bridging a Matrix message without its malformed parts");
    return reading.event;
  }
  if ("rejected" in reading) log.warn({ ...which, reason: reading.rejected }, "rejected a malformed Matrix event");
  else log.debug({ ...which, reason: reading.ignored }, "Matrix event not bridged");
  return undefined;
}
