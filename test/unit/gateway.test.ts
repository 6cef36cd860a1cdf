import { describe, it } from "node:test";
import assert from "node:assert/strict";
import xml from "@xmpp/xml";
import { occupantStanding, uniqueNicks } from "../../src/core/gateway.js";
import { parseGatewayPresence } from "../../src/xmpp/gateway-stanzas.js";

describe("gateway rooms: standing and nicks", () => {
  it("makes power levels affiliations and roles (XEP-0045 §5)", () => {
    const levels = { users: { "@o:hs": 100, "@m:hs": 50, "@v:hs": -1 }, users_default: 0, events_default: 0 };
    assert.deepEqual(occupantStanding("@o:hs", levels), { affiliation: "owner", role: "moderator" });
    assert.deepEqual(occupantStanding("@m:hs", levels), { affiliation: "admin", role: "moderator" });
    assert.deepEqual(occupantStanding("@p:hs", levels), { affiliation: "member", role: "participant" });
    assert.deepEqual(occupantStanding("@v:hs", levels), { affiliation: "member", role: "visitor" });
  });
  it("gives every member a nick of their own: the display name, told apart by the localpart where two share one", () => {
    const nicks = uniqueNicks(new Map([["@a:hs", "Sam"], ["@b:hs", "Sam"], ["@c:hs", undefined], ["@d:hs", "  "]]));
    assert.deepEqual([...nicks.values()], ["Sam (a)", "Sam (b)", "c", "d"]);
  });
});

describe("gateway rooms: presence to the room", () => {
  it("reads entering with the history asked for, and leaving", () => {
    const join = xml("presence", { to: "r/n" }, xml("x", { xmlns: "http://jabber.org/protocol/muc" }, xml("history", { maxstanzas: "5", since: "2026-01-01T00:00:00Z", seconds: "bad" })));
    assert.deepEqual(parseGatewayPresence(join), { available: true, history: { maxstanzas: 5, since: Date.parse("2026-01-01T00:00:00Z") } });
    assert.deepEqual(parseGatewayPresence(xml("presence", { type: "unavailable" })), { available: false });
    assert.equal(parseGatewayPresence(xml("presence", { type: "subscribe" })), undefined);
  });
});
