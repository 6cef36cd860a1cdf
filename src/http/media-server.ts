import express, { type Request, type Response } from "express";
import { pipeline } from "node:stream/promises";
import type { Logger } from "../log.js";
import { MatrixMediaError, type MatrixMedia } from "../matrix/media.js";
import { THUMBNAIL_BOX, type FileUrlKind, type FileUrls } from "../core/file-urls.js";
import { essence } from "../media/media-type.js";

/** Types a browser may show in place; anything else is offered as a download. */
const INLINE = /^(image\/(png|jpeg|gif|webp|avif|bmp)|video\/[\w.+-]+|audio\/[\w.+-]+|text\/plain|application\/pdf)$/;

const contentDisposition = (mediaType: string, name: string): string =>
  `${INLINE.test(mediaType) ? "inline" : "attachment"}; filename="${name.replace(/[^\x20-\x7e]|["\\]/g, "_")}"; filename*=UTF-8''${encodeURIComponent(name)}`;

/**
 * The media listener: serves the Matrix files behind signed links to XMPP users, streamed from the
 * homeserver as they are read. HEAD is answered too, since XMPP clients ask for the size and type
 * before they download.
 */
export function mediaApp(fileUrls: FileUrls, media: MatrixMedia, log: Logger): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  const serve = async (kind: FileUrlKind, req: Request, res: Response): Promise<void> => {
    const { server, mediaId, expires, sig, name } = req.params as Record<string, string>;
    const requested = { kind, server: server!, mediaId: mediaId!, expires: expires!, sig: sig!, name: name! };
    const verdict = fileUrls.check(requested);
    if (verdict !== "valid") {
      res.status(verdict === "expired" ? 410 : 404).type("text/plain").send(verdict === "expired" ? "This link has expired.\n" : "Not found.\n");
      return;
    }
    const abort = new AbortController();
    res.once("close", () => abort.abort());
    try {
      const download = await media.download(`mxc://${requested.server}/${requested.mediaId}`, abort.signal, kind === "thumbnail" ? THUMBNAIL_BOX : undefined);
      const mediaType = essence(download.headers["content-type"]) ?? "application/octet-stream";
      const secondsLeft = Math.max(0, parseInt(requested.expires, 36) - Math.floor(Date.now() / 1000));
      res.status(200).set({
        "content-type": mediaType,
        "content-disposition": contentDisposition(mediaType, requested.name),
        "cache-control": `public, max-age=${secondsLeft}, immutable`,
        "x-content-type-options": "nosniff",
        "content-security-policy": "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'",
        "access-control-allow-origin": "*",
        ...(download.headers["content-length"] ? { "content-length": download.headers["content-length"] } : {}),
      });
      if (req.method === "HEAD") {
        download.body.destroy();
        res.end();
        return;
      }
      await pipeline(download.body, res);
    } catch (err) {
      if (abort.signal.aborted) return;
      const status = err instanceof MatrixMediaError && err.statusCode === 404 ? 404 : 502;
      log.warn({ server: requested.server, mediaId: requested.mediaId, err }, "could not serve a Matrix file to XMPP");
      if (!res.headersSent) res.status(status).type("text/plain").send(status === 404 ? "Not found.\n" : "The homeserver could not give this file.\n");
      else res.destroy();
    }
  };
  const route = "/:server/:mediaId/:expires/:sig/:name";
  // Express answers HEAD with the GET route; serve() then sends the headers only.
  app.get(`${fileUrls.basePath}/thumbnail${route}`, (req, res) => void serve("thumbnail", req, res));
  app.get(`${fileUrls.basePath}${route}`, (req, res) => void serve("file", req, res));
  app.use((_req, res) => void res.status(404).type("text/plain").send("Not found.\n"));
  return app;
}
