/** HTTP File Upload (XEP-0363): where to upload, and asking for a slot as a puppet. */
import xml from "@xmpp/xml";
import type { ComponentConnection } from "./component-connection.js";
import { NS } from "./namespaces.js";

export interface UploadSlot {
  putUrl: string;
  /** Only the headers XEP-0363 §5 lets the service ask for. */
  putHeaders: Record<string, string>;
  getUrl: string;
}

/** The upload service refused a slot (too big, not allowed, quota...), with the XMPP condition. */
export class UploadSlotError extends Error {
  constructor(readonly condition: string, readonly service: string, text?: string) {
    super(`${service} refused an upload slot (${condition}${text ? `: ${text}` : ""})`);
    this.name = "UploadSlotError";
  }
}

const ALLOWED_HEADERS = new Set(["authorization", "cookie", "expires"]);
const isHttpUrl = (url: string | undefined): url is string => url !== undefined && /^https?:\/\//i.test(url);

export async function requestUploadSlot(connection: ComponentConnection, from: string, service: string, file: { name: string; size: number; mediaType: string }): Promise<UploadSlot> {
  let result;
  try {
    result = await connection.request(
      xml("iq", { type: "get", from, to: service, id: `slot-${Date.now().toString(36)}` }, xml("request", { xmlns: NS.httpUpload, filename: file.name, size: String(file.size), "content-type": file.mediaType })),
    );
  } catch (err) {
    const stanzaError = err as { condition?: string; text?: string };
    if (stanzaError.condition) throw new UploadSlotError(stanzaError.condition, service, stanzaError.text);
    throw err;
  }
  const slot = result.getChild("slot", NS.httpUpload);
  const put = slot?.getChild("put");
  const getUrl = slot?.getChild("get")?.attrs.url;
  if (!put || !isHttpUrl(put.attrs.url) || !isHttpUrl(getUrl)) throw new UploadSlotError("bad-slot", service, "the answer holds no usable URLs");
  const putHeaders: Record<string, string> = {};
  for (const header of put.getChildren("header")) {
    const name = String(header.attrs.name ?? "").toLowerCase();
    // Newlines would let a hostile service inject headers of its own.
    if (ALLOWED_HEADERS.has(name)) putHeaders[name] = header.getText().replace(/[\r\n]/g, "");
  }
  return { putUrl: put.attrs.url, putHeaders, getUrl };
}

/** The first item of the domain that offers HTTP File Upload (disco#items, then disco#info of each). */
export async function findUploadService(connection: ComponentConnection, domain: string): Promise<string | undefined> {
  const items = await connection.request(xml("iq", { type: "get", from: connection.domain, to: domain, id: `items-${Date.now().toString(36)}` }, xml("query", { xmlns: NS.discoItems })));
  const jids = items.getChild("query", NS.discoItems)?.getChildren("item").map((i) => i.attrs.jid as string | undefined) ?? [];
  for (const jid of [domain, ...jids]) {
    if (!jid) continue;
    const info = await connection
      .request(xml("iq", { type: "get", from: connection.domain, to: jid, id: `info-${Date.now().toString(36)}` }, xml("query", { xmlns: NS.discoInfo })))
      .catch(() => undefined);
    if (info?.getChild("query", NS.discoInfo)?.getChildren("feature").some((f) => f.attrs.var === NS.httpUpload)) return jid;
  }
  return undefined;
}
