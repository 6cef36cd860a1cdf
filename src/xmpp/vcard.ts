import xml from "@xmpp/xml";
import type { Logger } from "../log.js";
import type { ComponentLink } from "./component-link.js";

const NS_VCARD = "vcard-temp";

/**
 * The name an XMPP user gives in their vCard (XEP-0054): NICKNAME, else FN. Undefined when they have
 * none, or the server does not answer.
 */
export async function fetchVcardName(link: ComponentLink, jid: string, log: Logger): Promise<string | undefined> {
  try {
    const result = await link.request(xml("iq", { type: "get", to: jid, from: link.domain, id: `vc-${Date.now().toString(36)}` }, xml("vCard", { xmlns: NS_VCARD })), 5000);
    const vcard = result.getChild("vCard", NS_VCARD);
    const name = vcard?.getChildText("NICKNAME")?.trim() || vcard?.getChildText("FN")?.trim();
    return name || undefined;
  } catch (err) {
    log.debug({ jid, err: (err as Error).message }, "no vCard name");
    return undefined;
  }
}
