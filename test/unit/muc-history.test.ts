import { describe, it } from "node:test";
import assert from "node:assert/strict";
import xml, { type Element } from "@xmpp/xml";
import { pino } from "pino";
import type { ArchiveQuery } from "../../src/xmpp/muc-archive.js";
import { MucHistory } from "../../src/xmpp/muc-history.js";
import { renderJoin, type JoinHistory } from "../../src/xmpp/stanzas.js";
import { addressing, alice, muc } from "../fakes/capability-deps.js";
import { MemoryStore } from "../fakes/memory-store.js";

const puppet = "alice%matrix.test@matrix.xmpp.test/matrix";
const said = (body: string, stanzaId: string, extra: Element[] = []) =>
  xml("message", { from: `${muc}/bob`, to: puppet, type: "groupchat" }, xml("body", {}, body), xml("stanza-id", { xmlns: "urn:xmpp:sid:0", id: stanzaId, by: muc }), ...extra);

/** MucHistory over a fake archive; what reaches the inbound side is recorded by body, in order. */
/** `connecting`: the connection is coming up, the rooms to rejoin are not known yet. */
function scene(options: { mam: boolean; archived?: Element[]; backfill?: number; failAfterId?: boolean; connecting?: boolean }) {
  const store = new MemoryStore();
  const taken: string[] = [];
  const queries: ArchiveQuery[] = [];
  const archive = {
    supported: async () => options.mam,
    read: async (_muc: string, _puppet: string, query: ArchiveQuery) => {
      queries.push(query);
      if (options.failAfterId && "afterId" in query) throw new Error("item-not-found");
      return options.archived ?? [];
    },
  };
  const inbound = { handle: async (stanza: Element) => void taken.push(stanza.getChildText("body") ?? stanza.name) };
  const history = new MucHistory({ store, archive, inbound, addressing, backfillMessages: options.backfill ?? 50, log: pino({ level: "silent" }) });
  if (options.connecting) history.holdUntilRejoined();
  return { store, taken, queries, history };
}

describe("a MUC's history as its first puppet enters", () => {
  it("reads the archive after the last stanza-id delivered; the room's live messages wait until it is in, then follow in order", async () => {
    const { store, taken, queries, history } = scene({ mam: true, archived: [said("missed 1", "s2"), said("missed 2", "s3")] });
    await store.setMucLastStanzaId(muc, "s1");
    await store.setMucDeliveredUntil(muc, Date.now());
    const asked: JoinHistory[] = [];
    await history.enter(muc, puppet, async (wanted) => {
      asked.push(wanted);
      // The room speaks as soon as the puppet is in, before the archive is read.
      await history.handle(said("live", "s4"));
      return "Alice";
    });
    assert.deepEqual(asked, [{ maxstanzas: 0 }]);
    assert.deepEqual(queries, [{ afterId: "s1" }]);
    assert.deepEqual(taken, ["missed 1", "missed 2", "live"]);
    await history.handle(said("later", "s5"));
    assert.deepEqual(taken.at(-1), "later", "nothing waits once the history is in");
  });

  it("a room that still counts the puppet in speaks before the bridge rejoins it: that waits for the archive; other rooms' messages do not", async () => {
    const other = "other@conference.xmpp.test";
    const { store, taken, history } = scene({ mam: true, archived: [said("missed", "s2"), said("live", "s3")], connecting: true });
    await store.setMucLastStanzaId(muc, "s1");
    await history.handle(said("live", "s3"));
    await history.handle(xml("message", { from: `${other}/carol`, to: puppet, type: "groupchat" }, xml("body", {}, "elsewhere")));
    await history.handle(xml("iq", { from: muc, to: puppet, type: "result", id: "q1" }));
    assert.deepEqual(taken, ["iq"], "only what is not a room's message goes on before the rooms to rejoin are known");
    history.holdOnly([muc]);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(taken, ["iq", "elsewhere"]);
    await history.enter(muc, puppet, async () => "Alice");
    assert.deepEqual(taken, ["iq", "elsewhere", "missed", "live", "live"], "the archive first; the live copy after it (the inbound side drops it by its stanza-id)");

    history.holdEveryRoom();
    await history.handle(said("after the connection came back", "s4"));
    assert.equal(taken.length, 5);
    history.holdOnly([]);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(taken.at(-1), "after the connection came back");
  });

  it("on standby nothing waits: what was held goes on (to be stored for the active instance), and what the closing connection still brings", async () => {
    const { taken, history } = scene({ mam: true, connecting: true });
    await history.handle(said("read before stepping down", "s1"));
    assert.deepEqual(taken, []);
    await history.stopHolding();
    assert.deepEqual(taken, ["read before stepping down"]);
    history.holdEveryRoom();
    await history.handle(said("still in the socket", "s2"));
    assert.deepEqual(taken, ["read before stepping down", "still in the socket"]);
  });

  it("skips what is on Matrix already: a known stanza-id, a Matrix user's own message under an old nick", async () => {
    const mine = said("mine", "s3", [xml("origin-id", { xmlns: "urn:xmpp:sid:0", id: "ev1" })]);
    const { store, taken, history } = scene({ mam: true, archived: [said("known", "s2"), mine, said("new", "s4")] });
    await store.setMucLastStanzaId(muc, "s1");
    await store.recordMessage({ roomId: "!r", eventId: "$known", conversation: muc, ids: { stanzaId: "s2" }, sender: "@_xmpp_bob=40xmpp.test:matrix.test" });
    await store.recordMessage({ roomId: "!r", eventId: "$ev1", conversation: muc, ids: { id: "ev1", originId: "ev1" }, sender: alice });
    await history.enter(muc, puppet, async () => "Alice");
    assert.deepEqual(taken, ["new"]);
  });

  it("reads by time when the archive no longer knows the last stanza-id", async () => {
    const { store, queries, history } = scene({ mam: true, failAfterId: true });
    await store.setMucLastStanzaId(muc, "gone");
    await store.setMucDeliveredUntil(muc, 1_000_000);
    await history.enter(muc, puppet, async () => "Alice");
    assert.deepEqual(queries, [{ afterId: "gone" }, { start: 1_000_000 - 60_000 }]);
  });

  it("starts a room new to the bridge with its last messages; without an archive, with <history>", async () => {
    const withArchive = scene({ mam: true, backfill: 5 });
    await withArchive.history.enter(muc, puppet, async () => "Alice");
    assert.deepEqual(withArchive.queries, [{ last: 5 }]);

    const without = scene({ mam: false, backfill: 5 });
    const asked: JoinHistory[] = [];
    await without.history.enter(muc, puppet, async (wanted) => (asked.push(wanted), "Alice"));
    await without.store.setMucDeliveredUntil(muc, 2_000_000);
    await without.history.enter(muc, puppet, async (wanted) => (asked.push(wanted), "Alice"));
    assert.deepEqual(asked, [{ maxstanzas: 5 }, { since: 2_000_000 - 60_000 }]);
    assert.equal(renderJoin(puppet, muc, "Alice", { history: { since: 0 } }).getChild("x")?.getChild("history")?.attrs.since, "1970-01-01T00:00:00.000Z");
    assert.equal(renderJoin(puppet, muc, "Alice", { history: { maxstanzas: 5 } }).getChild("x")?.getChild("history")?.attrs.maxstanzas, "5");
  });

  it("asks for nothing where there is nothing to bring: a new room with backfill off", async () => {
    const { queries, history } = scene({ mam: true, backfill: 0 });
    const asked: JoinHistory[] = [];
    await history.enter(muc, puppet, async (wanted) => (asked.push(wanted), "Alice"));
    assert.deepEqual(asked, [{ maxstanzas: 0 }]);
    assert.deepEqual(queries, []);
  });
});
