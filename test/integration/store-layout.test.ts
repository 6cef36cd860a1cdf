/**
 * The key layout in Redis (docs/store.md): each script and `MULTI` the store runs keeps to one hash slot,
 * as Redis Cluster requires; data an earlier version left under the first layout's key names is moved at
 * start, once, whoever starts, and the bridge then delivers what waited in its outboxes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Writable } from "node:stream";
import { Redis, type Command } from "ioredis";
import calculateSlot from "cluster-key-slot";
import pino from "pino";
import { RedisStore } from "../../src/store/redis-store.js";
import { portalScene } from "./scenes.js";
import { baseConfig, bridgeSuite, uniqueName } from "./harness.js";

const redisSettings = (keyPrefix: string) => ({ url: baseConfig().redis.url as string, keyPrefix });

/** What reached Redis at once: one command, or the commands of one MULTI. */
interface Unit {
  commands: string[];
  keys: string[];
}

/** Records what the store sends from now on, grouping each MULTI ... EXEC. */
function recordUnits(store: RedisStore): Unit[] {
  const redis = (store as unknown as { redis: Redis }).redis;
  const send = redis.sendCommand.bind(redis);
  const units: Unit[] = [];
  let open: Unit | undefined;
  redis.sendCommand = (command: Command, stream?: Parameters<Redis["sendCommand"]>[1]) => {
    const keys = command.getKeys().map(String);
    if (command.name === "multi") units.push((open = { commands: [], keys: [] }));
    else if (command.name === "exec") open = undefined;
    else if (open) {
      open.commands.push(command.name);
      open.keys.push(...keys);
    } else units.push({ commands: [command.name], keys });
    return send(command, stream);
  };
  return units;
}

/** A logger whose records the test reads. */
function recordingLogger(): { log: pino.Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const sink = new Writable({ write: (line: Buffer, _encoding, done) => (records.push(JSON.parse(line.toString()) as Record<string, unknown>), done()) });
  return { log: pino({ level: "info" }, sink), records };
}

test("every script and MULTI the store runs touches keys of one hash slot", async () => {
  const store = new RedisStore(redisSettings(`${uniqueName("slots")}:`), pino({ level: "silent" }));
  await store.connect();
  const units = recordUnits(store);
  try {
    const [room, otherRoom, muc] = ["matrix:!one:matrix.test", "matrix:!two:matrix.test", "xmpp:room@muc.example"];
    const token = await store.acquireLease("slots", 60_000);
    assert.ok(token !== undefined);
    store.fence(token);
    assert.equal(await store.renewLease("slots", token, 60_000), true);
    assert.equal(await store.acceptTransaction("1:digest", [{ lane: room, payload: "a" }, { lane: otherRoom, payload: "b" }, { lane: room, payload: "c" }]), true);
    assert.equal(await store.acceptTransaction("1:digest", [{ lane: room, payload: "a" }, { lane: otherRoom, payload: "b" }, { lane: room, payload: "c" }]), false);
    await store.appendToOutbox({ lane: muc, payload: "x" });
    assert.equal(await store.appendToOutboxOnce({ lane: muc, payload: "y" }, "room@muc.example:sid:1", 60), true);
    assert.equal(await store.appendToOutboxOnce({ lane: muc, payload: "y" }, "room@muc.example:sid:1", 60), false);
    assert.deepEqual(await store.peekOutbox(room, 10), ["a", "c"]);
    await store.removeFromOutbox(room, ["a", "c"]);
    assert.deepEqual((await store.pendingLanes()).sort(), [otherRoom, muc].sort(), "the emptied lane is forgotten");
    assert.deepEqual(await store.outboxDepths(), new Map([[otherRoom, 1], [muc, 2]]));
    assert.equal((await store.outboxHeads()).get(muc), "x");

    const portal = { kind: "portal", roomId: "!one:matrix.test", muc: "room@muc.example" } as const;
    const dm = { kind: "dm", roomId: "!dm:matrix.test", matrixUser: "@max:matrix.test", xmppUser: "ann@xmpp.test" } as const;
    await store.saveLink(portal);
    await store.saveLink(dm);
    assert.equal((await store.links()).length, 2);
    assert.deepEqual(await store.linkByMuc(portal.muc), portal);
    assert.deepEqual(await store.dmLink(dm.matrixUser, dm.xmppUser), dm);
    await store.removeLink(dm);
    assert.equal(await store.dmLink(dm.matrixUser, dm.xmppUser), undefined);

    const entry = { roomId: portal.roomId, eventId: "$e", conversation: portal.muc, ids: { id: "i", originId: "o", stanzaId: "s" } };
    await store.recordMessage(entry, 60);
    await store.recordMessage({ ...entry, eventId: "$bare", ids: {} }, 60);
    assert.equal(await store.eventIdForXmppId(portal.muc, "s"), "$e");
    assert.deepEqual(await store.messageByEventId("$e"), entry);
    const reaction = { target: "$e", sender: "@max:matrix.test", key: "👍", eventId: "$r" };
    await store.recordReaction(reaction, 60);
    assert.deepEqual(await store.reactionsOf("$e", reaction.sender), new Map([["👍", "$r"]]));
    await store.forgetReaction(reaction);
    assert.equal(await store.reactionByEventId("$r"), undefined);
    await store.setPuppetOccupancy(portal.muc, "@max:matrix.test", "Max");
    assert.deepEqual(await store.puppetOccupancy(), [{ muc: portal.muc, matrixUser: "@max:matrix.test", nick: "Max" }]);
    await store.setPuppetOccupancy(portal.muc, "@max:matrix.test", undefined);
    await store.addPresenceSubscriber("@max:matrix.test", "ann@xmpp.test");
    assert.deepEqual(await store.presenceSubscriptions(), [{ matrixUser: "@max:matrix.test", xmppUser: "ann@xmpp.test" }]);
    await store.removePresenceSubscriber("@max:matrix.test", "ann@xmpp.test");
    await store.releaseLease("slots", token);
  } finally {
    await store.close();
  }
  const spanning = units.filter((unit) => new Set(unit.keys.map((key) => calculateSlot(key))).size > 1);
  assert.deepEqual(spanning, [], "each of these touches keys of several slots");
  // Not true for want of looking: the store did run scripts and MULTIs of several keys.
  assert.ok(units.some((unit) => unit.commands[0] === "eval" && unit.keys.length >= 3));
  assert.ok(units.some((unit) => unit.commands.length > 1));
});

test("a lane leaves the index only when empty with no append under way, and a crash while it leaves puts it back", async () => {
  const prefix = `${uniqueName("index")}:`;
  const store = new RedisStore(redisSettings(prefix), pino({ level: "silent" }));
  const raw = new Redis(baseConfig().redis.url as string);
  await store.connect();
  try {
    const lane = "matrix:!busy:matrix.test";
    const listed = async () => (await raw.sismember(`${prefix}outboxes`, lane)) === 1;
    // An appender that announced its append and listed the lane, and has not appended yet.
    await raw.incr(`${prefix}outbox:{${lane}}:appending`);
    await raw.sadd(`${prefix}outboxes`, lane);
    assert.deepEqual(await store.pendingLanes(), []);
    assert.equal(await listed(), true, "kept listed for the append under way");
    await raw.del(`${prefix}outbox:{${lane}}:appending`);
    await store.pendingLanes();
    assert.equal(await listed(), false, "forgotten once empty and idle");
    // A crash while the lane was being forgotten, and an entry appended meanwhile.
    await raw.sadd(`${prefix}outboxes:forgetting`, lane);
    await raw.rpush(`${prefix}outbox:{${lane}}`, "late");
    assert.deepEqual(await store.pendingLanes(), [lane]);
    assert.equal(await listed(), true, "listed again");
    assert.equal(await raw.scard(`${prefix}outboxes:forgetting`), 0);
  } finally {
    await store.close();
    raw.disconnect();
  }
});

test("data in the first layout's key names is moved at start, once, by whichever instance starts", async () => {
  const prefix = `${uniqueName("old")}:`;
  const key = (...parts: string[]) => prefix + parts.join(":");
  const raw = new Redis(baseConfig().redis.url as string);
  const muc = "room@muc.example";
  const [roomLane, xmppLane] = ["matrix:!old:matrix.test", `xmpp:${muc}`];
  const heldLane = `${roomLane} held for @flood:matrix.test`;
  const dm = "dm:ann@xmpp.test:@max:matrix.test:8448";
  const heldCopy = `held:${createHash("sha1").update(roomLane).update("\n").update("m1").digest("base64url")}`;
  const portal = { kind: "portal", roomId: "!old:matrix.test", muc };
  const entry = { roomId: portal.roomId, eventId: "$old", conversation: muc, ids: { id: "i1", stanzaId: "s1" } };
  // As the earlier version left them: "m1" copied to its sender's held lane, not yet removed from the room's.
  await raw.rpush(key("outbox", roomLane), "m1", "m2");
  await raw.rpush(key("outbox", heldLane), "m1");
  await raw.rpush(key("outbox", xmppLane), "x1");
  await raw.sadd(key("outboxes"), roomLane, heldLane, xmppLane);
  await raw.set(key("once", `${muc}:sid:s1`), "1", "EX", 3600);
  await raw.set(key("once", `${dm}:oid:ann@xmpp.test/phone:o1`), "1", "EX", 3600);
  await raw.set(key("once", heldCopy), "1", "EX", 3600);
  await raw.set(key("txn", "7:digest"), "1", "EX", 3600);
  await raw.set(key("link", "room", portal.roomId), JSON.stringify(portal));
  await raw.set(key("link", "muc", muc), portal.roomId);
  await raw.sadd(key("links"), portal.roomId);
  await raw.set(key("msg", "mx", "$old"), JSON.stringify(entry), "EX", 3600);
  await raw.set(key("msg", "xmpp", muc, "i1"), "$old", "EX", 3600);
  await raw.set(key("msg", "xmpp", muc, "s1"), "$old", "EX", 3600);
  await raw.set(key("lease", "token"), "41");
  const oldKeys = await raw.keys(`${prefix}*`);

  const { log, records } = recordingLogger();
  const stores = [new RedisStore(redisSettings(prefix), log), new RedisStore(redisSettings(prefix), log)];
  try {
    // Two instances starting at once.
    await Promise.all(
      stores.map(async (store) => {
        await store.connect();
        await store.migrateLayout();
      }),
    );
    const [store] = stores as [RedisStore, RedisStore];
    assert.deepEqual(await store.peekOutbox(roomLane, 10), ["m1", "m2"]);
    assert.deepEqual(await store.peekOutbox(heldLane, 10), ["m1"]);
    assert.deepEqual(await store.peekOutbox(xmppLane, 10), ["x1"]);
    assert.deepEqual((await store.pendingLanes()).sort(), [roomLane, heldLane, xmppLane].sort());
    // Nothing queued twice: dedup keys, the held copy's key and the transaction are still known.
    assert.equal(await store.appendToOutboxOnce({ lane: xmppLane, payload: "x1" }, `${muc}:sid:s1`, 60), false);
    assert.equal(await store.appendToOutboxOnce({ lane: `xmpp:${dm}`, payload: "d1" }, `${dm}:oid:ann@xmpp.test/phone:o1`, 60), false);
    assert.equal(await store.appendToOutboxOnce({ lane: heldLane, payload: "m1" }, heldCopy, 60), false);
    assert.equal(await store.acceptTransaction("7:digest", [{ lane: roomLane, payload: "m1" }]), false);
    assert.deepEqual(await store.peekOutbox(roomLane, 10), ["m1", "m2"]);
    assert.deepEqual(await store.peekOutbox(heldLane, 10), ["m1"]);
    assert.deepEqual(await store.links(), [portal]);
    assert.deepEqual(await store.linkByMuc(muc), portal);
    assert.equal(await store.eventIdForXmppId(muc, "i1"), "$old");
    assert.equal(await store.eventIdForXmppId(muc, "s1"), "$old");
    assert.deepEqual(await store.messageByEventId("$old"), entry);
    assert.equal(await store.acquireLease("new", 60_000), 42, "fencing tokens go on counting up");
    // The index of lanes, links, message map entries and transactions keep their names; every other old name is gone.
    const kept = [key("outboxes"), key("link", "room", portal.roomId), key("link", "muc", muc), key("links"), key("msg", "mx", "$old"), key("txn", "7:digest")];
    const left = await raw.keys(`${prefix}*`);
    assert.deepEqual(oldKeys.filter((k) => left.includes(k)).sort(), kept.sort());

    const lines = records.filter((r) => r.msg === "moved the data to the present key layout");
    const total = (field: string) => lines.reduce((sum, r) => sum + Number(r[field]), 0);
    // Each piece is counted by the instance that moved it. (Not `left`: an instance may count there a held
    // copy's key whose lane the other had moved before it looked.)
    assert.deepEqual({ lanes: total("lanes"), entries: total("entries"), onceKeys: total("onceKeys"), messageIds: total("messageIds") }, { lanes: 3, entries: 4, onceKeys: 3, messageIds: 2 });
    // A later start finds the layout done.
    const later = new RedisStore(redisSettings(prefix), log);
    await later.connect();
    await later.migrateLayout();
    await later.close();
    assert.equal(records.filter((r) => r.msg === "moved the data to the present key layout").length, lines.length);
  } finally {
    await Promise.all(stores.map((store) => store.close()));
    raw.disconnect();
  }
});

const suite = bridgeSuite();

test("the bridge delivers what waited in an outbox under its old name, once each", async () => {
  const scene = await portalScene(suite, "migrated");
  await suite.bridge.stop();
  const prefix = (baseConfig().redis.keyPrefix as string | undefined) ?? "mxb:";
  const lane = `matrix:${scene.roomId}`;
  const event = (n: number) => ({
    type: "m.room.message",
    room_id: scene.roomId,
    sender: scene.matrixUser.userId,
    event_id: `$${uniqueName("migrated")}`,
    origin_server_ts: Date.now(),
    content: { msgtype: "m.text", body: `waited ${n}` },
  });
  const raw = new Redis(baseConfig().redis.url as string);
  try {
    // Written by an instance of the earlier version after the layout was moved (one left running): found at the next start.
    await raw.rpush(`${prefix}outbox:${lane}`, JSON.stringify(event(1)), JSON.stringify(event(2)));
    await raw.sadd(`${prefix}outboxes`, lane);
  } finally {
    raw.disconnect();
  }
  const first = scene.fromMatrix("waited 1");
  const second = scene.fromMatrix("waited 2");
  await suite.restartBridge();
  await Promise.all([first, second]);
  // Once each: a later message in the same lane comes after anything delivered again.
  await scene.matrixUser.sendText(scene.roomId, "after them");
  await scene.fromMatrix("after them");
  const bodies = scene.xmppUser.stanzas.filter((s) => s.is("message") && s.attrs.from === `${scene.room}/Max`).map((s) => s.getChildText("body"));
  assert.deepEqual(bodies.filter((b) => b?.startsWith("waited") || b === "after them"), ["waited 1", "waited 2", "after them"]);
  const moved = suite.bridge.records.find((r) => r.msg === "moved the data to the present key layout");
  assert.equal(moved?.entries, 2);
});
