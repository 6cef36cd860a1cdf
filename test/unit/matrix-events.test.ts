import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseMatrixEvent, readMatrixEvent } from "../../src/matrix/events.js";
import type { Logger } from "../../src/log.js";

const room = { room_id: "!r:hs", sender: "@alice:hs", event_id: "$e" };
const common = { roomId: "!r:hs", sender: "@alice:hs", eventId: "$e" };
const message = (content: unknown, type = "m.room.message") => ({ type, ...room, content });

const parsed = (raw: unknown) => {
  const reading = parseMatrixEvent(raw);
  assert.ok("event" in reading, `expected an event, got ${JSON.stringify(reading)}`);
  return reading.event;
};
/** Read, with the reason its malformed parts were left out. */
const degraded = (raw: unknown) => {
  const reading = parseMatrixEvent(raw);
  assert.ok("event" in reading && reading.degraded !== undefined, `expected a degraded reading, got ${JSON.stringify(reading)}`);
  return { event: reading.event, reason: reading.degraded };
};
const plainBody = (raw: unknown, reasonPattern: RegExp): void => {
  const { event, reason } = degraded(raw);
  assert.match(reason, reasonPattern);
  assert.ok(event.kind === "message");
  const m = event.message;
  assert.ok(m.html === undefined && !m.edit && !m.replyTo && !m.threadRoot && m.mentions.length === 0, JSON.stringify(m));
};
const rejected = (raw: unknown): string => {
  const reading = parseMatrixEvent(raw);
  assert.ok("rejected" in reading, `expected a rejection, got ${JSON.stringify(reading)}`);
  return reading.rejected;
};

describe("Matrix messages", () => {
  it("reads text, HTML, emotes and mentions", () => {
    assert.deepEqual(parsed(message({ msgtype: "m.text", body: "hi" })), { kind: "message", ...common, message: { msgtype: "m.text", body: "hi", mentions: [] } });
    const rich = parsed(message({ msgtype: "m.emote", body: "waves", format: "org.matrix.custom.html", formatted_body: "<b>waves</b>", "m.mentions": { user_ids: ["@bob:hs"] } }));
    assert.deepEqual(rich, { kind: "message", ...common, message: { msgtype: "m.emote", body: "waves", html: "<b>waves</b>", mentions: ["@bob:hs"] } });
  });
  it("keeps HTML only when it is Matrix HTML", () => {
    const event = parsed(message({ msgtype: "m.text", body: "x", format: "org.example.markup", formatted_body: "<b>x</b>" }));
    assert.ok(event.kind === "message" && event.message.html === undefined);
  });
  it("reads the file of a media message and of a sticker", () => {
    const image = parsed(message({ msgtype: "m.image", body: "cat.png", url: "mxc://hs/abc", info: { mimetype: "image/png", size: 10 } }));
    assert.ok(image.kind === "message");
    assert.deepEqual(image.message.file, { file: { url: "mxc://hs/abc", name: "cat.png", mediaType: "image/png", size: 10 } });
    const sticker = parsed(message({ body: "a sticker", url: "mxc://hs/s", info: {} }, "m.sticker"));
    assert.ok(sticker.kind === "message");
    assert.equal(sticker.message.msgtype, "m.sticker");
    assert.equal(sticker.message.file?.file.url, "mxc://hs/s");
  });
  it("reads an edit with its new content", () => {
    const event = parsed(message({ msgtype: "m.text", body: "* fixed", "m.new_content": { msgtype: "m.text", body: "fixed" }, "m.relates_to": { rel_type: "m.replace", event_id: "$old" } }));
    assert.ok(event.kind === "message");
    assert.deepEqual(event.message.edit, { target: "$old", newContent: { msgtype: "m.text", body: "fixed", mentions: [] } });
  });
  it("reads a reply without its fallback", () => {
    const event = parsed(
      message({
        msgtype: "m.text",
        body: "> <@bob:hs> original\n\nthe reply",
        format: "org.matrix.custom.html",
        formatted_body: "<mx-reply><blockquote>original</blockquote></mx-reply>the reply",
        "m.relates_to": { "m.in_reply_to": { event_id: "$orig" } },
      }),
    );
    assert.ok(event.kind === "message");
    assert.equal(event.message.replyTo, "$orig");
    assert.equal(event.message.body, "the reply");
    assert.equal(event.message.html, "the reply");
  });
  it("reads threads; a thread's fallback reply is no reply", () => {
    const fallback = parsed(message({ msgtype: "m.text", body: "in thread", "m.relates_to": { rel_type: "m.thread", event_id: "$root", is_falling_back: true, "m.in_reply_to": { event_id: "$root" } } }));
    assert.ok(fallback.kind === "message");
    assert.equal(fallback.message.threadRoot, "$root");
    assert.equal(fallback.message.replyTo, undefined);
    const reply = parsed(message({ msgtype: "m.text", body: "in thread", "m.relates_to": { rel_type: "m.thread", event_id: "$root", "m.in_reply_to": { event_id: "$other" } } }));
    assert.ok(reply.kind === "message");
    assert.equal(reply.message.replyTo, "$other");
  });
  it("takes a relation of an unknown type for a plain message", () => {
    const event = parsed(message({ msgtype: "m.text", body: "x", "m.relates_to": { rel_type: "m.reference", event_id: "$a" } }));
    assert.ok(event.kind === "message" && !event.message.edit && !event.message.replyTo && !event.message.threadRoot);
  });
  it("rejects a message without a usable body, naming the field", () => {
    assert.match(rejected(message({ msgtype: "m.text" })), /^content\.body: /);
    assert.match(rejected(message({ msgtype: "m.text", body: 42 })), /^content\.body: /);
    assert.match(rejected(message(undefined)), /^content: /);
    assert.match(rejected({ type: "m.room.message", room_id: "!r:hs", event_id: "$e", content: { msgtype: "m.text", body: "x" } }), /^sender: /);
    assert.match(rejected({ ...message({ msgtype: "m.text", body: "x" }), event_id: 7 }), /^event_id: /);
  });
  it("reads a usable body without the malformed fields around it, naming the first", () => {
    const { event } = degraded(message({ body: "x" }));
    assert.ok(event.kind === "message" && event.message.msgtype === "m.text");
    plainBody(message({ msgtype: ["m.text"], body: "x" }), /^content\.msgtype: /);
    plainBody(message({ msgtype: "m.text", body: "x", "m.mentions": { user_ids: "@bob:hs" } }), /^content\.m\.mentions\.user_ids: /);
    plainBody(message({ msgtype: "m.text", body: "x", format: "org.matrix.custom.html", formatted_body: 7 }), /^content\.formatted_body: /);
    plainBody(message({ msgtype: "m.text", body: "x", format: ["org.matrix.custom.html"], formatted_body: "<b>x</b>" }), /^content\.format: /);
  });
  it("reads a message with a bad relation as its plain body", () => {
    plainBody(message({ msgtype: "m.text", body: "* x", "m.relates_to": { rel_type: "m.replace", event_id: "$a" } }), /new content/);
    plainBody(message({ msgtype: "m.text", body: "* x", "m.new_content": { msgtype: "m.text", body: "x" }, "m.relates_to": { rel_type: "m.replace" } }), /names no event/);
    plainBody(message({ msgtype: "m.text", body: "* x", "m.new_content": { body: 1 }, "m.relates_to": { rel_type: "m.replace", event_id: "$a" } }), /^content\.m\.new_content\./);
    plainBody(message({ msgtype: "m.text", body: "x", "m.relates_to": "nonsense" }), /^content\.m\.relates_to: /);
    plainBody(message({ msgtype: "m.text", body: "x", "m.relates_to": { "m.in_reply_to": { event_id: 3 } } }), /m\.in_reply_to/);
    plainBody(message({ msgtype: "m.text", body: "x", "m.relates_to": { rel_type: "m.thread" } }), /root/);
  });
  it("never puts the body into the reason", () => {
    const secret = "my password is hunter2";
    const reasons = [
      degraded(message({ msgtype: { secret }, body: secret })).reason,
      rejected(message({ msgtype: "m.text", body: { secret } })),
      degraded(message({ msgtype: "m.text", body: secret, "m.relates_to": { rel_type: "m.replace", event_id: "$a" }, "m.new_content": secret })).reason,
      rejected({ type: "m.room.member", ...room, state_key: "@alice:hs", content: { membership: secret } }),
      rejected({ type: "m.reaction", ...room, content: { "m.relates_to": { rel_type: secret, event_id: "$a", key: "👍" } } }),
    ];
    for (const reason of reasons) assert.ok(!reason.includes("hunter2"), reason);
  });
  it("takes a hostile shape for what it is, not for more", () => {
    assert.match(rejected(null), /no type/);
    assert.match(rejected([{ type: "m.room.message" }]), /no type/);
    assert.match(rejected({ type: 5 }), /no type/);
    const proto = JSON.parse('{"type":"m.room.message","room_id":"!r:hs","sender":"@a:hs","event_id":"$e","content":{"msgtype":"m.text","body":"x","__proto__":{"m.relates_to":{"rel_type":"m.replace","event_id":"$z"}}}}') as unknown;
    const event = parsed(proto);
    assert.ok(event.kind === "message" && event.message.edit === undefined);
  });
  it("ignores redacted events and kinds the bridge does not act on", () => {
    assert.deepEqual(parseMatrixEvent({ ...message({}), unsigned: { redacted_because: {} } }), { ignored: "redacted" });
    assert.ok("ignored" in parseMatrixEvent({ type: "m.room.create", ...room, state_key: "", content: {} }));
    assert.ok("ignored" in parseMatrixEvent({ type: "m.room.topic", ...room, state_key: "x", content: { topic: "t" } }));
  });
});

describe("Matrix reactions, redactions and membership", () => {
  it("reads a reaction, and rejects one without an annotation", () => {
    const content = { "m.relates_to": { rel_type: "m.annotation", event_id: "$t", key: "👍" } };
    assert.deepEqual(parsed({ type: "m.reaction", ...room, content }), { kind: "reaction", ...common, target: "$t", key: "👍" });
    assert.match(rejected({ type: "m.reaction", ...room, content: { "m.relates_to": { rel_type: "m.annotation", event_id: "$t" } } }), /key/);
    assert.match(rejected({ type: "m.reaction", ...room, content: {} }), /m\.relates_to/);
  });
  it("reads a redaction's target at the top (room v1-10) or in the content (v11)", () => {
    assert.deepEqual(parsed({ type: "m.room.redaction", ...room, redacts: "$t", content: { reason: "spam" } }), { kind: "redaction", ...common, redacts: "$t", reason: "spam" });
    assert.deepEqual(parsed({ type: "m.room.redaction", ...room, content: { redacts: "$t" } }), { kind: "redaction", ...common, redacts: "$t" });
    assert.match(rejected({ type: "m.room.redaction", ...room, content: {} }), /redacts/);
    assert.match(rejected({ type: "m.room.redaction", ...room, content: { redacts: ["$t"] } }), /redacts/);
  });
  it("reads membership, with a null display name taken for none", () => {
    const event = parsed({ type: "m.room.member", ...room, state_key: "@bob:hs", content: { membership: "ban", reason: "spam", displayname: null } });
    assert.deepEqual(event, { kind: "membership", ...common, target: "@bob:hs", membership: "ban", reason: "spam" });
    const join = parsed({ type: "m.room.member", ...room, state_key: "@alice:hs", content: { membership: "join", displayname: "Alice", avatar_url: "mxc://hs/a" } });
    assert.ok(join.kind === "membership" && join.displayName === "Alice" && join.avatarUrl === "mxc://hs/a");
    assert.match(rejected({ type: "m.room.member", ...room, state_key: "@bob:hs", content: { membership: "dancing" } }), /membership/);
    assert.match(rejected({ type: "m.room.member", ...room, content: { membership: "join" } }), /state_key/);
  });
  it("reads an invite into an encrypted room from its invite state, and encryption turned on", () => {
    const invite = { type: "m.room.member", ...room, state_key: "@bob:hs", content: { membership: "invite" } };
    const encrypted = parsed({ ...invite, unsigned: { invite_room_state: [{ type: "m.room.name", content: { name: "x" } }, { type: "m.room.encryption", state_key: "", content: {} }] } });
    assert.ok(encrypted.kind === "membership" && encrypted.roomEncrypted === true);
    const plain = parsed({ ...invite, unsigned: { invite_room_state: "nonsense" } });
    assert.ok(plain.kind === "membership" && plain.roomEncrypted === undefined);
    assert.deepEqual(parsed({ type: "m.room.encryption", ...room, state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }), { kind: "encryption", ...common });
  });
  it("reads the room's topic, name and avatar; a missing field is a removal", () => {
    assert.deepEqual(parsed({ type: "m.room.topic", ...room, state_key: "", content: { topic: "news" } }), { kind: "room-state", ...common, field: "topic", value: "news" });
    assert.deepEqual(parsed({ type: "m.room.avatar", ...room, state_key: "", content: {} }), { kind: "room-state", ...common, field: "avatar", value: "" });
    assert.match(rejected({ type: "m.room.name", ...room, state_key: "", content: { name: 5 } }), /name/);
  });
});

describe("Matrix ephemeral events", () => {
  it("reads typing", () => {
    assert.deepEqual(parsed({ type: "m.typing", room_id: "!r:hs", content: { user_ids: ["@a:hs"] } }), { kind: "typing", roomId: "!r:hs", userIds: ["@a:hs"] });
    assert.match(rejected({ type: "m.typing", room_id: "!r:hs", content: { user_ids: "@a:hs" } }), /user_ids/);
    assert.match(rejected({ type: "m.typing", content: { user_ids: [] } }), /room_id/);
  });
  it("reads public read receipts only", () => {
    const content = { $a: { "m.read": { "@a:hs": { ts: 1 } }, "m.read.private": { "@b:hs": { ts: 1 } } }, $b: { "m.read.private": { "@b:hs": { ts: 1 } } } };
    assert.deepEqual(parsed({ type: "m.receipt", room_id: "!r:hs", content }), { kind: "receipt", roomId: "!r:hs", reads: [{ eventId: "$a", readers: ["@a:hs"] }] });
    assert.match(rejected({ type: "m.receipt", room_id: "!r:hs", content: { $a: "read" } }), /\$a/);
  });
  it("reads presence, and rejects a state Matrix does not define", () => {
    assert.deepEqual(parsed({ type: "m.presence", sender: "@a:hs", content: { presence: "unavailable", status_msg: "lunch" } }), {
      kind: "presence",
      sender: "@a:hs",
      presence: { availability: "away", status: "lunch" },
    });
    assert.match(rejected({ type: "m.presence", sender: "@a:hs", content: { presence: "asleep" } }), /presence/);
  });
});

describe("readMatrixEvent", () => {
  const recorder = () => {
    const lines: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
    const at = (level: string) => (fields: Record<string, unknown>, msg: string) => lines.push({ level, fields, msg });
    return { lines, log: { warn: at("warn"), debug: at("debug"), info: at("info"), error: at("error") } as unknown as Logger };
  };
  /** Reads the event; exactly one warning came of it, naming the event and the reason, never the body's "secret words". */
  const oneWarning = (raw: unknown, reason: string) => {
    const { lines, log } = recorder();
    const read = readMatrixEvent(raw, log);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.level, "warn");
    assert.deepEqual(lines[0]?.fields, { eventId: "$e", type: "m.room.message", reason });
    assert.ok(!JSON.stringify(lines).includes("secret words"));
    return read;
  };
  it("logs one line naming the event and the reason of a rejection, without the body", () => {
    assert.equal(oneWarning(message({ msgtype: "m.text", body: 42, formatted_body: "secret words" }), "content.body: Invalid input: expected string, received number"), undefined);
  });
  it("logs one line naming the event and the malformed part it left out, without the body", () => {
    const read = oneWarning(message({ msgtype: "m.text", body: "secret words", "m.relates_to": { rel_type: "m.replace" } }), "content.m.relates_to: an edit names no event");
    assert.equal(read?.kind, "message");
  });
  it("passes a parsed event on without a word", () => {
    const { lines, log } = recorder();
    assert.equal(readMatrixEvent(message({ msgtype: "m.text", body: "hi" }), log)?.kind, "message");
    assert.equal(lines.length, 0);
  });
});
