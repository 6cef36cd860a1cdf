/** vCard-temp (XEP-0054) and its avatar (XEP-0153): asking for one, reading it, answering for puppets. */
import xml, { type Element } from "@xmpp/xml";
import { AvatarRejectedError, decodeBase64 } from "../core/avatars.js";
import type { Logger } from "../log.js";
import type { ComponentConnection } from "./component-connection.js";
import { NS } from "./namespaces.js";
import { errorCondition, splitJid } from "./stanzas.js";

/** What the bridge takes from a vCard. */
export interface VcardProfile {
  /** NICKNAME, else FN. */
  name?: string;
  /** The PHOTO's BINVAL, decoded; its TYPE is not trusted, the bytes are checked later. */
  photo?: Buffer;
  /** Why a PHOTO that is there was not taken (too big, bad base64). */
  photoRejected?: string;
}

/** What a puppet's vCard says: the Matrix user's display name and avatar. */
export interface VcardCard {
  name?: string;
  photo?: { bytes: Buffer; mediaType: string };
}

const VCARD_TIMEOUT_MS = 10_000;

/** The condition of a failed iq request, for logs: the stanza error's, else the error message. */
export function requestFailure(err: unknown): string {
  const e = err as { condition?: string; element?: Element; message?: string };
  return e.condition ?? (e.element ? errorCondition(e.element) : undefined) ?? e.message ?? String(err);
}

/**
 * Asks for a vCard (to a bare JID, a room, or an occupant JID through its MUC, which then must be
 * asked `from` one of its occupants). Undefined when none came back, for whatever reason.
 */
export async function requestVcard(connection: ComponentConnection, jid: string, log: Logger, from = connection.domain): Promise<Element | undefined> {
  try {
    const result = await connection.request(xml("iq", { type: "get", to: jid, from }, xml("vCard", { xmlns: NS.vcard })), VCARD_TIMEOUT_MS);
    return result.getChild("vCard", NS.vcard) ?? xml("vCard", { xmlns: NS.vcard });
  } catch (err) {
    log.debug({ jid, from, condition: requestFailure(err) }, "no vCard");
    return undefined;
  }
}

/** The name and photo of a vCard. */
export function readVcard(vcard: Element): VcardProfile {
  const name = vcard.getChildText("NICKNAME")?.trim() || vcard.getChildText("FN")?.trim();
  const binval = vcard.getChild("PHOTO")?.getChildText("BINVAL");
  const profile: VcardProfile = name ? { name } : {};
  if (!binval) return profile;
  try {
    profile.photo = decodeBase64(binval);
  } catch (err) {
    if (!(err instanceof AvatarRejectedError)) throw err;
    profile.photoRejected = err.reason;
  }
  return profile;
}

/** A vCard with a name and a photo; other fields of `base` (a room's description, say) are kept. */
export function renderVcard(card: VcardCard, base?: Element): Element {
  const kept = (base?.getChildElements() ?? []).filter((el) => !["PHOTO", ...(card.name === undefined ? [] : ["FN", "NICKNAME"])].includes(el.name));
  return xml(
    "vCard",
    { xmlns: NS.vcard },
    ...kept,
    card.name === undefined ? undefined : xml("FN", {}, card.name),
    card.name === undefined ? undefined : xml("NICKNAME", {}, card.name),
    card.photo ? xml("PHOTO", {}, xml("TYPE", {}, card.photo.mediaType), xml("BINVAL", {}, card.photo.bytes.toString("base64"))) : undefined,
  );
}

/**
 * Answers vCard requests to puppets (XEP-0054) with their Matrix profile: an empty vCard when the
 * user has none, item-not-found only when there is no such Matrix user.
 */
export function answerPuppetVcards(
  connection: ComponentConnection,
  isPuppet: (bareJid: string) => boolean,
  cardOf: (bareJid: string) => Promise<VcardCard | undefined>,
  log: Logger,
): void {
  connection.iqCallee.get(NS.vcard, "vCard", async ({ stanza }) => {
    const to = splitJid(stanza.attrs.to ?? connection.domain).bare;
    if (!isPuppet(to)) return undefined;
    try {
      const card = await cardOf(to);
      if (card) return renderVcard(card);
      return xml("error", { type: "cancel" }, xml("item-not-found", { xmlns: NS.stanzas }));
    } catch (err) {
      log.warn({ to, from: stanza.attrs.from, err }, "could not answer a vCard request; sent an empty one");
      return xml("vCard", { xmlns: NS.vcard });
    }
  });
}
