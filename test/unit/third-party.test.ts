import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import type { MatrixRooms } from "../../src/matrix/rooms.js";
import { ThirdPartyLookups } from "../../src/pipeline/third-party.js";
import { addressing, bob, bobsGhost, muc, portalRoom } from "../fakes/capability-deps.js";
import { MemoryStore } from "../fakes/memory-store.js";

const plumbedRoom = "!plumbed:matrix.test";
const plumbedMuc = "plumbed@conference.xmpp.test";
const newMuc = "new@conference.xmpp.test";

async function lookups(canonicalAlias = "") {
  const store = new MemoryStore();
  await store.saveLink({ kind: "portal", roomId: portalRoom, muc });
  await store.saveLink({ kind: "plumbed", roomId: plumbedRoom, muc: plumbedMuc });
  const rooms = { stateField: async (roomId: string) => (roomId === plumbedRoom ? canonicalAlias : "") } as unknown as MatrixRooms;
  const describeMuc = async (jid: string) => (jid === newMuc ? { muc: jid, name: "new" } : undefined);
  return new ThirdPartyLookups({ store, rooms, describeMuc, addressing, log: pino({ level: "silent" }) });
}

describe("third-party lookups", () => {
  it("describe the xmpp protocol with one field each and one instance, as the spec and Synapse want", async () => {
    const protocol = (await lookups()).protocol("xmpp");
    assert.deepEqual(protocol?.location_fields, ["muc"]);
    assert.deepEqual(protocol?.user_fields, ["jid"]);
    for (const field of [...protocol!.location_fields, ...protocol!.user_fields]) assert.ok(protocol!.field_types[field], field);
    assert.deepEqual(protocol?.instances, [{ network_id: "xmpp", desc: "XMPP", fields: {} }]);
    assert.equal((await lookups()).protocol("irc"), undefined);
  });

  it("find a portal's alias, a MUC that answers by the alias that opens it, a plumbed room by its own alias", async () => {
    const location = (alias: string, jid: string) => [{ alias, protocol: "xmpp", fields: { muc: jid } }];
    const third = await lookups("#plumbed:matrix.test");
    assert.deepEqual(await third.locations("xmpp", { muc: "Room@Conference.xmpp.test" }), location("#_xmpp_room=40conference.xmpp.test:matrix.test", muc));
    assert.deepEqual(await third.locations("xmpp", { muc: newMuc }), location("#_xmpp_new=40conference.xmpp.test:matrix.test", newMuc));
    assert.deepEqual(await third.locations("xmpp", { muc: plumbedMuc }), location("#plumbed:matrix.test", plumbedMuc));
  });

  it("find nothing for a MUC that does not answer, a plumbed room without alias, a JID that is no MUC's, another protocol", async () => {
    const third = await lookups();
    const asked: Record<string, string>[] = [{ muc: "gone@conference.xmpp.test" }, { muc: plumbedMuc }, { muc: "xmpp.test" }, { muc: "room@matrix.xmpp.test" }, { room: "x" }];
    for (const fields of asked) {
      assert.deepEqual(await third.locations("xmpp", fields), [], JSON.stringify(fields));
    }
    assert.deepEqual(await third.locations("irc", { muc }), []);
  });

  it("turn a portal alias back into its MUC", async () => {
    const third = await lookups();
    assert.deepEqual(await third.locationsOfAlias("#_xmpp_room=40conference.xmpp.test:matrix.test"), [{ alias: "#_xmpp_room=40conference.xmpp.test:matrix.test", protocol: "xmpp", fields: { muc } }]);
    assert.deepEqual(await third.locationsOfAlias("#elsewhere:matrix.test"), []);
  });

  it("turn a JID into its ghost and a ghost into its JID, but not an anonymous occupant's ghost", async () => {
    const third = await lookups();
    const user = [{ userid: bobsGhost, protocol: "xmpp", fields: { jid: bob } }];
    assert.deepEqual(await third.users("xmpp", { jid: "Bob@xmpp.test" }), user);
    assert.deepEqual(await third.usersOfId(bobsGhost), user);
    assert.deepEqual(await third.users("xmpp", { jid: "bob@xmpp.test/phone" }), []);
    assert.deepEqual(await third.users("xmpp", { jid: "alice%matrix.test@matrix.xmpp.test" }), []);
    assert.deepEqual(await third.usersOfId("@_xmpp_room=40conference.xmpp.test/nick:matrix.test"), []);
    assert.deepEqual(await third.usersOfId("@alice:matrix.test"), []);
  });
});
