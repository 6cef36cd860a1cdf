import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { RoomMetadata } from "../../src/pipeline/capabilities/room-metadata.js";
import type { AvatarUploads } from "../../src/pipeline/capabilities/profiles/avatar-uploads.js";
import type { MatrixAvatars } from "../../src/pipeline/capabilities/profiles/matrix-avatars.js";
import { alice, capabilityDeps, fromMuc, muc, portalRoom } from "../fakes/capability-deps.js";

async function scene(options: Parameters<typeof capabilityDeps>[0] = {}) {
  const parts = await capabilityDeps({ inMuc: [alice], ...options });
  const metadata = new RoomMetadata({
    ...parts.deps,
    avatars: {} as MatrixAvatars,
    uploads: {} as AvatarUploads,
    describeMuc: async () => undefined,
    roomProfile: async () => undefined,
  });
  return { ...parts, metadata };
}
const change = (field: "topic" | "name", value: string) => ({ kind: "room-state", roomId: portalRoom, sender: alice, eventId: `$${field}`, field, value }) as const;

describe("room metadata, Matrix to XMPP", () => {
  it("sends a new topic as the MUC subject, by the user's puppet, recorded so a refusal finds it", async () => {
    const { metadata, stanzas, store, at } = await scene();
    await metadata.fromMatrix(change("topic", "Release day"), at(portalRoom));
    assert.equal(stanzas[0]?.attrs.to, muc);
    assert.equal(stanzas[0]?.getChildText("subject"), "Release day");
    assert.equal(await store.eventIdForXmppId(muc, "topic"), "$topic");
  });
  it("tells the room when the MUC refuses a new name", async () => {
    const { metadata, matrix, at } = await scene({
      answer: async () => {
        throw Object.assign(new Error("forbidden"), { condition: "forbidden" });
      },
    });
    await metadata.fromMatrix(change("name", "New name"), at(portalRoom));
    assert.deepEqual(matrix.notices, [`The room name did not change on XMPP: ${muc} refused it (only its owners may change it).`]);
  });
  it("leaves a DM's state alone: it has no MUC", async () => {
    const { metadata, stanzas, at } = await scene();
    await metadata.fromMatrix({ ...change("topic", "x"), roomId: "!dm:matrix.test" }, at("!dm:matrix.test"));
    assert.equal(stanzas.length, 0);
  });
});

describe("room metadata, XMPP to Matrix", () => {
  it("makes the MUC's subject the room's topic", async () => {
    const { metadata, matrix } = await scene();
    await metadata.subjectFromXmpp({ kind: "subject", muc, subject: "Welcome" }, fromMuc);
    assert.deepEqual(matrix.topics, ["Welcome"]);
  });
});
