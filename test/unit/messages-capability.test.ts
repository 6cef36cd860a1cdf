import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Element } from "@xmpp/xml";
import { ghostOfOccupant } from "../../src/core/identity.js";
import type { MatrixMessage, XmppInboundMessage } from "../../src/core/model.js";
import { RemoteFileError } from "../../src/media/remote-file.js";
import { Files } from "../../src/pipeline/capabilities/files.js";
import { Messages } from "../../src/pipeline/capabilities/messages.js";
import { addressing, alice, bob, bobsGhost, capabilityDeps, dm, dmRoom, muc, portalRoom } from "../fakes/capability-deps.js";

const NS = { correct: "urn:xmpp:message-correct:0", reply: "urn:xmpp:reply:0", reference: "urn:xmpp:reference:0", fallback: "urn:xmpp:fallback:0" };
const text = (body: string, extra: Partial<MatrixMessage> = {}): MatrixMessage => ({ msgtype: "m.text", body, mentions: [], ...extra });
const fromBob = (body: string, extra: Partial<XmppInboundMessage> = {}): XmppInboundMessage => ({ body, conversation: { kind: "dm", xmppUser: bob, matrixUser: alice }, ids: { id: `x-${body}` }, ...extra });
const toDm = { link: { kind: "dm" as const, roomId: dmRoom, matrixUser: alice, xmppUser: bob }, roomId: dmRoom, conversation: dm, ghost: bobsGhost };

/** Alice's DM with Bob and the portal, with Messages on fakes; files fail to download unless said otherwise. */
async function scene(options: Parameters<typeof capabilityDeps>[0] = {}) {
  const parts = await capabilityDeps(options);
  const files = new Files({
    rooms: parts.deps.rooms,
    shareFile: async (file) => ({ url: `https://files.test/${file.name ?? "f"}` }),
    fetchFile: async (file) => {
      throw new RemoteFileError("refused-address", file.url, "the address is not public");
    },
    upload: async () => "mxc://matrix.test/up",
    log: parts.deps.log,
  });
  const messages = new Messages({ ...parts.deps, files, occupancy: parts.occupancy });
  const send = (eventId: string, message: MatrixMessage, roomId = dmRoom) => messages.fromMatrix({ kind: "message", roomId, sender: alice, eventId, message }, parts.at(roomId));
  const receive = (message: XmppInboundMessage) => messages.fromXmpp({ kind: "message", message }, toDm);
  return { ...parts, messages, send, receive };
}

const child = (stanza: Element | undefined, name: string, ns: string) => stanza?.getChild(name, ns);

describe("messages, Matrix to XMPP", () => {
  it("sends text as the sender's puppet, with the event's id as stanza id and origin-id, and records it", async () => {
    const { send, stanzas, store } = await scene();
    await send("$hello", text("hello"));
    assert.equal(stanzas[0]?.attrs.to, bob);
    assert.equal(stanzas[0]?.attrs.type, "chat");
    assert.equal(stanzas[0]?.attrs.id, "hello");
    assert.equal(stanzas[0]?.getChildText("body"), "hello");
    assert.equal((await store.messageByEventId("$hello"))?.ids.originId, "hello");
    assert.equal(await store.lastMessage(dm, alice), "$hello");
  });
  it("corrects the last message (XEP-0308); an older one gets a marked new message", async () => {
    const { send, stanzas } = await scene();
    await send("$one", text("one"));
    await send("$two", text("two"));
    await send("$fix2", text("* deux", { edit: { target: "$two", newContent: text("deux") } }));
    await send("$fix1", text("* un", { edit: { target: "$one", newContent: text("un") } }));
    assert.equal(child(stanzas[2], "replace", NS.correct)?.attrs.id, "two");
    assert.equal(stanzas[2]?.getChildText("body"), "deux");
    assert.equal(child(stanzas[3], "replace", NS.correct)?.attrs.id, "one");
    assert.equal(stanzas[3]?.getChildText("body"), "* un");
    assert.equal(child(stanzas[3], "fallback", NS.fallback)?.attrs.for, NS.correct);
  });
  it("replies (XEP-0461) with a quote for clients without replies, and keeps a thread's id", async () => {
    const { send, stanzas, store } = await scene({ messageText: { $root: "the question" } });
    await store.recordMessage({ roomId: dmRoom, eventId: "$root", conversation: dm, ids: { id: "q1", originId: "q1" }, sender: bobsGhost });
    await send("$answer", text("the answer", { replyTo: "$root" }));
    await send("$inThread", text("more", { threadRoot: "$root" }));
    assert.equal(child(stanzas[0], "reply", NS.reply)?.attrs.id, "q1");
    assert.equal(stanzas[0]?.getChildText("body"), "> the question\nthe answer");
    assert.equal(stanzas[1]?.getChildText("thread"), "q1");
    assert.equal(await store.threadRoot(dm, "q1"), "$root");
  });
  it("marks the MUC occupants a message mentions (XEP-0372)", async () => {
    const carol = { nick: "carol", occupantKey: "carol" };
    const { send, stanzas } = await scene({ inMuc: [alice], occupants: [carol] });
    const carolsGhost = ghostOfOccupant({ muc, ...carol }, addressing);
    await send("$hi", text("hi carol", { mentions: [carolsGhost] }), portalRoom);
    assert.equal(stanzas[0]?.attrs.to, muc);
    assert.deepEqual(child(stanzas[0], "reference", NS.reference)?.attrs, { xmlns: NS.reference, type: "mention", begin: "3", end: "8", uri: `xmpp:${muc}/carol` });
  });
  it("sends a file as its link alone, the caption as a message of its own", async () => {
    const { send, stanzas } = await scene();
    const file = { url: "mxc://matrix.test/pic", name: "pic.png", mediaType: "image/png" };
    await send("$pic", { msgtype: "m.image", body: "pic.png", mentions: [], file: { file, caption: { body: "look" } } });
    assert.equal(stanzas[0]?.getChildText("body"), "https://files.test/pic.png");
    assert.equal(stanzas[1]?.getChildText("body"), "look");
    assert.equal(stanzas[1]?.attrs.id, "pic.caption");
  });
});

describe("messages, XMPP to Matrix", () => {
  it("posts text as the ghost and records where it went", async () => {
    const { receive, matrix, store } = await scene();
    await receive(fromBob("hi"));
    assert.deepEqual(matrix.sent.map((s) => [s.sender, s.content.body]), [[bobsGhost, "hi"]]);
    assert.equal(await store.eventIdForXmppId(dm, "x-hi"), "$m1");
  });
  it("turns a correction into an edit, and a reply to an unknown message into its quote", async () => {
    const { receive, matrix } = await scene();
    await receive(fromBob("helo"));
    await receive(fromBob("hello", { replaces: "x-helo" }));
    await receive(fromBob("yes", { replyTo: { id: "unknown", quote: "> what?\n" } }));
    assert.deepEqual(matrix.sent[1]?.content["m.relates_to"], { rel_type: "m.replace", event_id: "$m1" });
    assert.equal(matrix.sent[1]?.content.body, "* hello");
    assert.equal(matrix.sent[2]?.content.body, "> what?\nyes");
    assert.equal(matrix.sent[2]?.content["m.relates_to"], undefined);
  });
  it("keeps a message in the thread Matrix started, and ignores threads it did not", async () => {
    const { receive, matrix, store } = await scene();
    await store.setThreadRoot(dm, "t1", "$root");
    await receive(fromBob("in", { thread: "t1" }));
    await receive(fromBob("out", { thread: "someone-elses" }));
    assert.equal((matrix.sent[0]?.content["m.relates_to"] as { rel_type?: string })?.rel_type, "m.thread");
    assert.equal(matrix.sent[1]?.content["m.relates_to"], undefined);
  });
  it("posts a notice with the link for a file that cannot be brought over, then its caption", async () => {
    const { receive, matrix } = await scene();
    await receive(fromBob("see this", { files: [{ url: "http://10.0.0.1/x.png", name: "x.png" }] }));
    assert.equal(matrix.sent[0]?.content.msgtype, "m.notice");
    assert.match(String(matrix.sent[0]?.content.body), /x\.png.*could not be bridged.*http:\/\/10\.0\.0\.1\/x\.png/);
    assert.equal(matrix.sent[1]?.content.body, "see this");
  });
});
