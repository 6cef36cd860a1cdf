import xml from "@xmpp/xml";
import type { Logger } from "../log.js";
import type { ComponentLink } from "./component-link.js";
import { NS } from "./namespaces.js";
import { errorCondition } from "./stanzas.js";

export interface MucDescription {
  muc: string;
  name: string;
}

/** Asks a MUC about itself (disco#info, XEP-0030/XEP-0045 §6.4): undefined when it is no MUC room. */
export async function describeMuc(link: ComponentLink, muc: string, log: Logger): Promise<MucDescription | undefined> {
  try {
    const result = await link.request(xml("iq", { type: "get", to: muc, from: link.domain, id: `disco-${Date.now().toString(36)}` }, xml("query", { xmlns: NS.discoInfo })));
    const query = result.getChild("query", NS.discoInfo);
    const identity = query?.getChildren("identity").find((i) => i.attrs.category === "conference");
    const isRoom = query?.getChildren("feature").some((f) => f.attrs.var === NS.muc);
    if (!identity || !isRoom) return undefined;
    return { muc, name: identity.attrs.name || muc.split("@")[0] || muc };
  } catch (err) {
    const condition = (err as { condition?: string }).condition ?? errorCondition((err as { element?: never }).element ?? xml("x"));
    log.info({ muc, condition: condition ?? (err as Error).message }, "MUC lookup failed");
    return undefined;
  }
}
