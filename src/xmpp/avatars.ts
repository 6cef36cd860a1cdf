/** XMPP users' avatars: the image itself, from their vCard (XEP-0054) or else their PEP avatar (XEP-0084). */
import xml, { type Element } from "@xmpp/xml";
import { AvatarRejectedError, decodeBase64 } from "../core/avatars.js";
import type { Logger } from "../log.js";
import type { ComponentConnection } from "./component-connection.js";
import { NS } from "./namespaces.js";
import { readVcard, requestFailure, requestVcard, type VcardProfile } from "./vcard.js";

/** The PEP avatar (XEP-0084): the metadata's latest item, then the data item it names. */
async function fetchPepAvatar(connection: ComponentConnection, jid: string, from: string, log: Logger): Promise<Buffer | undefined> {
  const items = async (node: string, itemId?: string): Promise<Element | undefined> => {
    const request = xml(
      "iq",
      { type: "get", to: jid, from },
      xml("pubsub", { xmlns: NS.pubsub }, xml("items", itemId ? { node } : { node, max_items: "1" }, itemId ? xml("item", { id: itemId }) : undefined)),
    );
    const result = await connection.request(request, 10_000);
    return result.getChild("pubsub", NS.pubsub)?.getChild("items")?.getChild("item");
  };
  try {
    const info = (await items(NS.avatarMetadata))?.getChild("metadata", NS.avatarMetadata)?.getChildren("info") ?? [];
    // Only an image stored in PEP can be had (one behind a url would need an HTTP download); PNG, which
    // XEP-0084 asks every publisher to offer, first.
    const stored = [...info].sort((a, b) => Number(b.attrs.type === "image/png") - Number(a.attrs.type === "image/png")).find((i) => i.attrs.id && !i.attrs.url);
    if (!stored?.attrs.id) return undefined;
    const data = (await items(NS.avatarData, stored.attrs.id))?.getChildText("data", NS.avatarData);
    return data ? decodeBase64(data) : undefined;
  } catch (err) {
    if (err instanceof AvatarRejectedError) log.info({ jid, reason: err.reason }, "PEP avatar refused");
    else log.debug({ jid, condition: requestFailure(err) }, "no PEP avatar");
    return undefined;
  }
}

/**
 * An XMPP user's name and avatar in one go: the vCard (which servers like Prosody fill from PEP), and
 * the PEP avatar only when the vCard has no photo. Undefined when the vCard could not be had at all.
 */
export async function fetchXmppProfile(connection: ComponentConnection, jid: string, log: Logger, from = connection.domain): Promise<VcardProfile | undefined> {
  const vcard = await requestVcard(connection, jid, log, from);
  const profile = vcard ? readVcard(vcard) : undefined;
  if (profile?.photo || profile?.photoRejected) return profile;
  const pep = await fetchPepAvatar(connection, jid, from, log);
  if (pep) return { ...profile, photo: pep };
  return profile;
}
