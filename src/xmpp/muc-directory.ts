import xml, { type Element } from "@xmpp/xml";
import type { Logger } from "../log.js";
import type { ComponentConnection } from "./component-connection.js";
import { NS } from "./namespaces.js";
import { requestFailure } from "./vcard.js";
import { jidLocalpart } from "../core/identity.js";

export interface MucDescription {
  muc: string;
  /** The room's name, else its localpart. */
  name: string;
  /** The name the room itself gives (XEP-0045 §6.4 identity), when it has one. */
  title?: string;
  /**
   * The SHA-1 of the room's avatar (XEP-0486, in the room's disco#info form): "" when the room can have one (it speaks
   * vcard-temp) but has none; undefined when it cannot, or when its form has no avatar field at all (ejabberd 23.01
   * keeps room vCards but only announces their hash in the room's presence).
   */
  avatarHash?: string;
  /** The room's description and subject, when its disco#info form tells them (XEP-0045 §6.4). */
  description?: string;
  subject?: string;
}

/**
 * Where a room's disco#info form may give its avatar's hash: XEP-0486's field, and the one Prosody's
 * mod_vcard_muc used before it.
 */
const AVATAR_HASH_FIELDS = ["muc#roominfo_avatarhash", "{http://modules.prosody.im/mod_vcard_muc}avatar#sha1"];

/** The fields of the room's muc#roominfo form (XEP-0045 §6.4), in its disco#info. */
function roomInfoFields(query: Element): Element[] {
  const form = query.getChildren("x", NS.dataForms).find((x) => x.getChildren("field").some((f) => f.attrs.var === "FORM_TYPE" && f.getChildText("value") === `${NS.muc}#roominfo`));
  return form?.getChildren("field") ?? [];
}

function avatarHashOf(query: Element): string | undefined {
  if (!query.getChildren("feature").some((f) => f.attrs.var === NS.vcard)) return undefined;
  const fields = roomInfoFields(query).filter((f) => AVATAR_HASH_FIELDS.includes(f.attrs.var ?? ""));
  // No field is no statement: that room may still have an avatar (it says so in its presence), unlike an empty field.
  if (fields.length === 0) return undefined;
  const values = fields.flatMap((f) => f.getChildren("value").map((v) => v.getText().trim().toLowerCase()));
  const hash = values.find((v) => /^[0-9a-f]{40}$/.test(v));
  // A value that is no SHA-1 says nothing the bridge could match; only no value at all means no avatar.
  return hash ?? (values.some((v) => v !== "") ? undefined : "");
}

/** Asks a MUC about itself (disco#info, XEP-0030/XEP-0045 §6.4): undefined when it is no MUC room. */
export async function describeMuc(connection: ComponentConnection, muc: string, log: Logger): Promise<MucDescription | undefined> {
  try {
    const result = await connection.request(xml("iq", { type: "get", to: muc, from: connection.domain }, xml("query", { xmlns: NS.discoInfo })));
    const query = result.getChild("query", NS.discoInfo);
    const identity = query?.getChildren("identity").find((i) => i.attrs.category === "conference");
    const isRoom = query?.getChildren("feature").some((f) => f.attrs.var === NS.muc);
    if (!query || !identity || !isRoom) return undefined;
    const title = identity.attrs.name?.trim();
    const avatarHash = avatarHashOf(query);
    const info = (field: string) => roomInfoFields(query).find((f) => f.attrs.var === `muc#roominfo_${field}`)?.getChildText("value")?.trim() || undefined;
    const [description, subject] = [info("description"), info("subject")];
    return {
      muc,
      name: title || jidLocalpart(muc) || muc,
      ...(title ? { title } : {}),
      ...(avatarHash === undefined ? {} : { avatarHash }),
      ...(description ? { description } : {}),
      ...(subject ? { subject } : {}),
    };
  } catch (err) {
    log.info({ muc, condition: requestFailure(err) }, "MUC lookup failed");
    return undefined;
  }
}
