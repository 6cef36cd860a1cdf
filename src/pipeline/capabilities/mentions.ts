import { ghostOfOccupant, type AddressingConfig } from "../../core/identity.js";
import { locateMentions } from "../../core/mentions.js";
import type { MucOccupancy } from "../../xmpp/muc-occupancy.js";

/**
 * Mentions from Matrix to XMPP: the MUC occupants a message names in m.mentions become XEP-0372
 * references where their nick stands in the text. (From XMPP, the adapter finds the puppets' nicks
 * in the text, and the message content pills them: see core/mentions.ts.)
 */
export function mentionReferences(occupancy: MucOccupancy, addressing: AddressingConfig, muc: string, body: string, userIds: readonly string[]): { begin: number; end: number; uri: string }[] {
  if (userIds.length === 0) return [];
  const mentioned = occupancy
    .occupants(muc)
    .filter((o) => userIds.includes(ghostOfOccupant(o, addressing)))
    .map((o) => ({ name: o.nick, matrixUser: ghostOfOccupant(o, addressing) }));
  return locateMentions(body, mentioned).map(({ mention, begin, end }) => ({ begin, end, uri: `xmpp:${muc}/${encodeURIComponent(mention.name)}` }));
}
