import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Element } from "@xmpp/xml";
import type { UserPresence } from "../../src/core/presence.js";
import { PresenceToXmpp } from "../../src/pipeline/capabilities/presence/presence-to-xmpp.js";
import { puppetAddress } from "../../src/xmpp/puppet-address.js";
import { addressing, alice, bob, bobsGhost, capabilityDeps } from "../fakes/capability-deps.js";

/** The puppet's full JID, from which it sends its presence; it probes from its bare JID. */
const alicesPuppet = puppetAddress(alice, addressing);
const alicesBarePuppet = alicesPuppet.split("/")[0];

/** Alice's puppet with Bob subscribed to it; the homeserver's answer to a presence read is `read`. */
async function scene(read: (viewer: string, user: string) => Promise<UserPresence | undefined>, enabled = true) {
  const { deps, store, stanzas } = await capabilityDeps();
  await store.addPresenceSubscriber(alice, bob);
  const reads: string[] = [];
  const rooms = { ...deps.rooms, presence: (viewer: string, user: string) => (reads.push(`${viewer} ${user}`), read(viewer, user)) } as typeof deps.rooms;
  const presence = new PresenceToXmpp({ ...deps, rooms, settings: { enabled, minIntervalSeconds: 0 }, avatarHashOf: async () => undefined });
  return { presence, stanzas, reads, store };
}
const fromPuppet = (stanzas: Element[]) => stanzas.filter((s) => s.attrs.from === alicesPuppet);
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

describe("puppets coming online", () => {
  it("probe their subscribers and tell them the presence the homeserver has now, read once per Matrix user", async () => {
    const { presence, stanzas, reads } = await scene(async () => ({ availability: "away", status: "In a meeting" }));
    await presence.greetSubscribers();
    await settle();
    assert.deepEqual(reads, [`${bobsGhost} ${alice}`]);
    assert.ok(stanzas.some((s) => s.attrs.type === "probe" && s.attrs.from === alicesBarePuppet && s.attrs.to === bob));
    const [sent] = fromPuppet(stanzas);
    assert.equal(sent?.attrs.to, bob);
    assert.equal(sent?.getChildText("show"), "away");
    assert.equal(sent?.getChildText("status"), "In a meeting");
    presence.stop();
  });

  it("leave it to an m.presence that came while the homeserver answered, which is newer", async () => {
    let answer: (p: UserPresence) => void = () => undefined;
    const { presence, stanzas } = await scene(() => new Promise((resolve) => (answer = resolve)));
    const greeting = presence.greetSubscribers();
    await settle();
    await presence.handle({ kind: "presence", sender: alice, presence: { availability: "online" } } as Parameters<PresenceToXmpp["handle"]>[0]);
    answer({ availability: "away" });
    await greeting;
    await settle();
    assert.deepEqual(
      fromPuppet(stanzas).map((s) => s.getChildText("show") ?? "available"),
      ["available"],
    );
    presence.stop();
  });

  it("say nothing of presence, and read none, with presence bridging off", async () => {
    const { presence, stanzas, reads } = await scene(async () => ({ availability: "away" }), false);
    await presence.greetSubscribers();
    assert.deepEqual(reads, []);
    assert.deepEqual(stanzas, []);
    presence.stop();
  });

  it("skip a subscriber who shares no DM with the Matrix user", async () => {
    const { presence, stanzas, reads, store } = await scene(async () => ({ availability: "online" }));
    await store.addPresenceSubscriber(alice, "eve@xmpp.test");
    await presence.greetSubscribers();
    await settle();
    assert.deepEqual(reads, [`${bobsGhost} ${alice}`]);
    assert.equal(stanzas.filter((s) => s.attrs.to === "eve@xmpp.test").length, 0);
    presence.stop();
  });
});
