/**
 * How a Matrix file reaches XMPP users, who cannot fetch authenticated Matrix media: a signed link to
 * the bridge's media listener, or a copy the sender's puppet uploads to the XMPP server (XEP-0363).
 * Either gives the URL the XMPP message then carries.
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { pipeline } from "node:stream/promises";
import type { SharedFile } from "../core/model.js";
import { THUMBNAIL_BOX, type FileUrls } from "../core/file-urls.js";
import { msgtypeFor } from "../core/media.js";
import type { MatrixMedia } from "../matrix/media.js";
import type { ComponentConnection } from "../xmpp/component-connection.js";
import { findUploadService, requestUploadSlot } from "../xmpp/http-upload.js";
import { essence } from "../media/media-type.js";
import { FileShareError } from "../media/file-share-error.js";

/**
 * Where XMPP users can fetch the file (its url an mxc:// URI) that `sender` shares, and a thumbnail
 * of it when there is one.
 */
export type ShareFile = (file: SharedFile, sender: string) => Promise<{ url: string; thumbnailUrl?: string }>;

/** Images this small are their own preview. */
const needsThumbnail = (file: SharedFile): boolean =>
  msgtypeFor(file.mediaType) === "m.image" && ((file.width ?? Infinity) > THUMBNAIL_BOX.width || (file.height ?? Infinity) > THUMBNAIL_BOX.height);

export function shareBySignedUrl(fileUrls: FileUrls): ShareFile {
  return async (file) => {
    const url = fileUrls.urlFor(file.url, file.name ?? "file");
    if (!url) throw new FileShareError("it is not in the homeserver's media repository");
    const thumbnailUrl = needsThumbnail(file) ? fileUrls.urlFor(file.url, "thumbnail", Date.now(), "thumbnail") : undefined;
    return thumbnailUrl ? { url, thumbnailUrl } : { url };
  };
}

export interface UploadSharing {
  media: MatrixMedia;
  connection: ComponentConnection;
  /** The upload service's JID, looked up once when not configured. */
  service: () => Promise<string>;
  puppetOf: (matrixUser: string) => string;
  maxBytes: number;
  timeoutMs: number;
}

/** Streams the file from the homeserver straight into an upload slot the sender's puppet asked for. */
export function shareByUpload(options: UploadSharing): ShareFile {
  return async (file, sender) => {
    const signal = AbortSignal.timeout(options.timeoutMs);
    const download = await options.media.download(file.url, signal);
    try {
      const size = Number(download.headers["content-length"]);
      if (!Number.isSafeInteger(size) || size <= 0) throw new FileShareError("the homeserver did not tell its size, which an upload slot needs");
      if (size > options.maxBytes) throw new FileShareError(`it is larger than the ${Math.floor(options.maxBytes / 1e6)} MB limit`);
      const mediaType = essence(download.headers["content-type"]) ?? essence(file.mediaType) ?? "application/octet-stream";
      const slot = await requestUploadSlot(options.connection, options.puppetOf(sender), await options.service(), { name: file.name ?? "file", size, mediaType });
      const put = (new URL(slot.putUrl).protocol === "https:" ? httpsRequest : httpRequest)(slot.putUrl, {
        method: "PUT",
        headers: { ...slot.putHeaders, "content-type": mediaType, "content-length": size },
        signal,
      });
      const response = new Promise<IncomingMessage>((resolve, reject) => put.once("response", resolve).once("error", reject));
      await pipeline(download.body, put);
      const answer = await response;
      answer.resume();
      const status = answer.statusCode ?? 0;
      if (status < 200 || status >= 300) throw new FileShareError(`the XMPP server's upload service answered ${status}`);
      return { url: slot.getUrl };
    } finally {
      download.body.destroy();
    }
  };
}

/**
 * The upload service: the configured one, else the first the XMPP server lists (asked once, and
 * again only after a failed look-up).
 */
export function uploadServiceFinder(connection: ComponentConnection, configured: string | undefined, serverDomain: string): () => Promise<string> {
  if (configured) return () => Promise.resolve(configured);
  let found: Promise<string> | undefined;
  return () =>
    (found ??= findUploadService(connection, serverDomain).then((jid) => {
      if (!jid) throw new FileShareError(`${serverDomain} offers no HTTP File Upload service (set media.uploadService, or use media.matrixToXmpp: link)`);
      return jid;
    })).catch((err: unknown) => {
      found = undefined;
      throw err;
    });
}
