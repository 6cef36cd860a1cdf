import { splitJid } from "../core/identity.js";
import { entryTime } from "../pipeline/ingress.js";
import type { BridgeStore } from "../store/store.js";
import type { MucOccupancy } from "../xmpp/muc-occupancy.js";

/** When the oldest entry of each lane happened, for the gauge of how long the oldest has waited. */
export async function oldestEntryTimes(store: BridgeStore): Promise<Map<string, number | undefined>> {
  return new Map([...(await store.outboxHeads())].map(([lane, payload]) => [lane, entryTime(lane, payload)]));
}

/**
 * Who the bridge stands for now: ghosts are XMPP users on Matrix (in a DM, heard in a portal's MUC, in
 * a gateway room), puppets are Matrix users on XMPP (in a DM, in a MUC). Each user counts once.
 */
export async function population(store: BridgeStore, occupancy: MucOccupancy): Promise<{ ghosts: number; puppets: number }> {
  const ghosts = new Set<string>();
  const puppets = new Set<string>();
  for (const link of await store.links()) {
    if (link.kind === "dm") {
      ghosts.add(link.xmppUser);
      puppets.add(link.matrixUser);
    } else if (link.kind === "gateway") {
      for (const occupant of (await store.gatewayOccupants(link.muc)).keys()) ghosts.add(splitJid(occupant).bare);
    } else {
      for (const { matrixUser } of occupancy.puppetsIn(link.muc)) puppets.add(matrixUser);
      // Occupants whose real JID the room hides are told apart by their place in it.
      for (const o of occupancy.occupants(link.muc)) ghosts.add(o.realJid ? splitJid(o.realJid).bare : `${link.muc}/${o.occupantKey}`);
    }
  }
  return { ghosts: ghosts.size, puppets: puppets.size };
}
