import { describe, it } from "node:test";
import assert from "node:assert/strict";
import xml from "@xmpp/xml";
import pino from "pino";
import { loopOf, MAX_BRIDGES, onward } from "../../src/core/trail.js";
import { parseMatrixEvent, withTrail } from "../../src/matrix/events.js";
import { LoopGuard } from "../../src/pipeline/loop-guard.js";
import type { XmppDestination } from "../../src/pipeline/destinations/xmpp-destination.js";
import { parseGroupMessage, renderMessage, renderSignal } from "../../src/xmpp/stanzas.js";

const self = "matrix.xmpp.test";
const other = "other.bridge.example";
const room = "!room:matrix.test";
const muc = "lobby@conference.xmpp.test";

describe("the trail of bridges a message crossed", () => {
  it("starts where the message was written and adds each bridge", () => {
    const first = onward(undefined, room, other);
    assert.deepEqual(first, { origin: room, bridges: [other] });
    assert.deepEqual(onward(first, muc, self), { origin: room, bridges: [other, self] });
  });

  it("refuses what would go back where it was written, through this bridge again, or too far", () => {
    assert.equal(loopOf(undefined, muc, self), undefined);
    assert.equal(loopOf({ origin: room, bridges: [other] }, muc, self), undefined, "a chain of bridges between different rooms");
    assert.match(loopOf({ origin: muc, bridges: [other] }, muc, self)!, /written there/);
    assert.match(loopOf({ origin: "!else:x", bridges: [self] }, muc, self)!, /this bridge/);
    const far = Array.from({ length: MAX_BRIDGES }, (_, i) => `b${i}.example`);
    assert.match(loopOf({ origin: "!else:x", bridges: far }, muc, self)!, /crossed 3 bridges/);
  });

  it("crosses a stanza in our own namespace both ways, and ignores a malformed one", () => {
    const trail = { origin: room, bridges: [other, self] };
    const out = renderMessage({ from: "a%matrix.test@matrix.xmpp.test", to: muc, type: "groupchat", id: "m1", body: "hi", trail });
    const back = parseGroupMessage(xml("message", { ...out.attrs, from: `${muc}/alice`, type: "groupchat" }, ...out.getChildElements()));
    assert.deepEqual(back?.trail, trail);
    const signal = renderSignal({ from: "a@x", to: muc, type: "groupchat", id: "s1", reactions: { id: "m0", emojis: ["👍"] }, trail });
    assert.ok(signal.getChild("trail", "urn:x-matrix-xmpp-bridge:trail:0"));
    const bare = parseGroupMessage(xml("message", { from: `${muc}/bob`, type: "groupchat" }, xml("body", {}, "x"), xml("trail", { xmlns: "urn:x-matrix-xmpp-bridge:trail:0", origin: room })));
    assert.equal(bare?.trail, undefined, "a trail naming no bridge is none");
  });

  it("crosses a Matrix content key both ways, and ignores a malformed one", () => {
    const trail = { origin: muc, bridges: [other] };
    const event = (content: Record<string, unknown>) => ({ type: "m.room.message", room_id: room, sender: "@a:matrix.test", event_id: "$e", content });
    const reading = parseMatrixEvent(event(withTrail({ msgtype: "m.text", body: "hi" }, trail)));
    assert.ok("event" in reading && reading.event.kind === "message");
    assert.deepEqual(reading.event.trail, trail);
    const odd = parseMatrixEvent(event({ msgtype: "m.text", body: "hi", "matrix_xmpp_bridge.trail": { origin: 5, bridges: [other] } }));
    assert.ok("event" in odd && odd.event.kind === "message" && odd.event.trail === undefined);
  });

  it("lets the bridge's own users' events out: a gateway room's ghosts are meant to reach its occupants", async () => {
    const guard = new LoopGuard({ self, isOwnMatrixUser: (u) => u.startsWith("@_xmpp_"), log: pino({ level: "silent" }) });
    const gateway = { link: { kind: "gateway", roomId: room, muc } } as unknown as XmppDestination;
    const trail = { origin: muc, bridges: [self] };
    assert.equal(await guard.fromMatrix({ kind: "message", roomId: room, eventId: "$1", sender: "@_xmpp_bob=40xmpp.test:matrix.test", trail }, gateway), false);
    assert.equal(await guard.fromMatrix({ kind: "message", roomId: room, eventId: "$2", sender: "@_other_bob:matrix.test", trail }, gateway), true);
  });

  it("knows another bridge's ghost by its join, and refuses its later member events, which the homeserver writes without the trail", async () => {
    const guard = new LoopGuard({ self, isOwnMatrixUser: () => false, log: pino({ level: "silent" }) });
    const portal = { link: { kind: "portal", roomId: room, muc } } as unknown as XmppDestination;
    const ghost = "@_other_bob=40xmpp.test:matrix.test";
    const member = (eventId: string, trail?: { origin: string; bridges: string[] }) => ({ kind: "membership", roomId: room, eventId, sender: ghost, target: ghost, ...(trail ? { trail } : {}) });
    assert.equal(await guard.fromMatrix(member("$join", { origin: muc, bridges: [other] }), portal), true, "no puppet for the other bridge's ghost of this MUC's occupant");
    assert.equal(await guard.fromMatrix(member("$rename"), portal), true, "nor on its new name");
    const elsewhere = { link: { kind: "portal", roomId: "!other:matrix.test", muc } } as unknown as XmppDestination;
    assert.equal(await guard.fromMatrix({ ...member("$elsewhere"), roomId: "!other:matrix.test" }, elsewhere), false, "in another room, unknown");
    const chained = { link: { kind: "portal", roomId: room, muc: "elsewhere@conference.xmpp.test" } } as unknown as XmppDestination;
    assert.equal(await guard.fromMatrix({ ...member("$join2", { origin: muc, bridges: [other] }), roomId: room }, chained), false, "an occupant of another MUC is bridged on");
  });
});
