/**
 * What a puppet may change about a MUC, as far as the MUC lets it: the subject (XEP-0045 §8.1), the
 * name through the owner's configuration form (§10.2), the avatar as the room's vCard (XEP-0486).
 * A refusal comes back as the iq's stanza error, for the caller to report.
 */
import xml, { type Element } from "@xmpp/xml";
import type { Logger } from "../log.js";
import type { ComponentConnection } from "./component-connection.js";
import { NS } from "./namespaces.js";
import { renderVcard, requestVcard } from "./vcard.js";

/** A MUC's configuration form has no field for what was to be changed. */
export class MucConfigError extends Error {
  constructor(readonly muc: string, readonly condition: string) {
    super(`${muc} cannot be configured that way: ${condition}`);
    this.name = "MucConfigError";
  }
}

/** A subject change (XEP-0045 §8.1): a groupchat message with a subject and no body; "" clears it. */
export function renderSubject(from: string, muc: string, id: string, subject: string): Element {
  return xml("message", { from, to: muc, type: "groupchat", id }, xml("subject", {}, subject));
}

const ROOM_NAME = "muc#roomconfig_roomname";

/**
 * Renames the MUC as an owner (XEP-0045 §10.2): asks for the configuration form, which only owners
 * get, and submits the name alone: the fields a submitted form leaves out keep their values.
 */
export async function setMucName(connection: ComponentConnection, from: string, muc: string, name: string): Promise<void> {
  const form = await connection.request(xml("iq", { type: "get", from, to: muc }, xml("query", { xmlns: NS.mucOwner })));
  const fields = form.getChild("query", NS.mucOwner)?.getChild("x", NS.dataForms)?.getChildren("field") ?? [];
  if (!fields.some((f) => f.attrs.var === ROOM_NAME)) throw new MucConfigError(muc, `no ${ROOM_NAME} field`);
  const field = (variable: string, value: string): Element => xml("field", { var: variable }, xml("value", {}, value));
  const submit = xml("x", { xmlns: NS.dataForms, type: "submit" }, field("FORM_TYPE", `${NS.muc}#roomconfig`), field(ROOM_NAME, name));
  await connection.request(xml("iq", { type: "set", from, to: muc }, xml("query", { xmlns: NS.mucOwner }, submit)));
}

/**
 * Sets the room's avatar as its vCard's PHOTO (XEP-0486), keeping the rest of the vCard;
 * without a photo, the PHOTO is removed.
 */
export async function setMucPhoto(connection: ComponentConnection, from: string, muc: string, photo: { bytes: Buffer; mediaType: string } | undefined, log: Logger): Promise<void> {
  const current = await requestVcard(connection, muc, log);
  await connection.request(xml("iq", { type: "set", from, to: muc }, renderVcard(photo ? { photo } : {}, current)));
}
