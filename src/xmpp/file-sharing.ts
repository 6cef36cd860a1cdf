/**
 * Files shared in messages: read from XEP-0066 OOB, XEP-0447 stateless file sharing and XEP-0385 SIMS;
 * written as OOB (what every client shows) plus XEP-0447 metadata (name, type, size, dimensions).
 */
import xml, { type Element } from "@xmpp/xml";
import type { SharedFile } from "../core/model.js";
import { NS } from "./namespaces.js";

const isWebUrl = (url: string | undefined): url is string => url !== undefined && /^https?:\/\/\S+$/i.test(url.trim());

const count = (value: string | undefined): number | undefined => {
  const n = value === undefined ? NaN : Number(value.trim());
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
};

/** Name, type, size and dimensions from a XEP-0446 metadata element or a XEP-0234 file element (same child names). */
function metadata(file: Element | undefined): Omit<SharedFile, "url"> {
  if (!file) return {};
  const out: Omit<SharedFile, "url"> = {};
  const name = file.getChildText("name")?.trim();
  if (name) out.name = name;
  const mediaType = file.getChildText("media-type")?.trim().toLowerCase();
  if (mediaType && /^[a-z0-9.+-]+\/[a-z0-9.+-]+$/.test(mediaType)) out.mediaType = mediaType;
  const size = count(file.getChildText("size") ?? undefined);
  if (size) out.size = size;
  // XEP-0446 0.2 has width and height; earlier drafts had "WxH" dimensions.
  const [w, h] = file.getChildText("dimensions")?.split("x") ?? [];
  const width = count(file.getChildText("width") ?? w);
  const height = count(file.getChildText("height") ?? h);
  if (width && height) Object.assign(out, { width, height });
  const durationMs = count(file.getChildText("length") ?? undefined);
  if (durationMs) out.durationMs = durationMs;
  return out;
}

/** More files in one message than clients send; each is a download that holds up the conversation. */
const MAX_FILES_PER_MESSAGE = 10;

/** The files a message shares, one per URL, with whatever metadata the sender gave (the first ten). */
export function parseSharedFiles(stanza: Element): SharedFile[] {
  const files = new Map<string, SharedFile>();
  const add = (url: string | undefined, meta: Omit<SharedFile, "url">): void => {
    if (!isWebUrl(url)) return;
    const key = url.trim();
    files.set(key, { ...files.get(key), ...meta, url: key });
  };
  for (const sharing of stanza.getChildren("file-sharing", NS.sfs)) {
    const meta = metadata(sharing.getChild("file", NS.fileMetadata));
    for (const source of sharing.getChild("sources")?.getChildren("url-data", NS.urlData) ?? []) add(source.attrs.target, meta);
  }
  for (const reference of stanza.getChildren("reference", NS.reference).filter((r) => r.attrs.type === "data")) {
    const sharing = reference.getChild("media-sharing", NS.sims);
    const meta = metadata(sharing?.getChild("file", NS.jingleFile));
    for (const source of sharing?.getChild("sources")?.getChildren("reference", NS.reference) ?? []) add(source.attrs.uri, meta);
  }
  // OOB last: its URL is often the same file the richer elements describe.
  for (const oob of stanza.getChildren("x", NS.oob)) {
    const url = oob.getChildText("url")?.trim();
    if (isWebUrl(url)) files.set(url, files.get(url) ?? { url });
  }
  return [...files.values()].slice(0, MAX_FILES_PER_MESSAGE);
}

/** The elements that share a file by its URL: OOB for every client, XEP-0447 for the metadata. */
export function renderSharedFile(file: SharedFile): Element[] {
  const field = (name: string, value: string | number | undefined): Element | undefined => (value === undefined ? undefined : xml(name, {}, String(value)));
  return [
    xml("x", { xmlns: NS.oob }, xml("url", {}, file.url)),
    xml(
      "file-sharing",
      { xmlns: NS.sfs, disposition: "inline" },
      xml(
        "file",
        { xmlns: NS.fileMetadata },
        field("media-type", file.mediaType),
        field("name", file.name),
        field("size", file.size),
        field("width", file.width),
        field("height", file.height),
        field("length", file.durationMs),
        file.thumbnailUrl ? xml("thumbnail", { xmlns: NS.thumbnails, uri: file.thumbnailUrl }) : undefined,
      ),
      xml("sources", {}, xml("url-data", { xmlns: NS.urlData, target: file.url })),
    ),
  ];
}
