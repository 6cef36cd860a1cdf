import { createReadStream } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";
import { essence } from "../media/media-type.js";
import { parseMxc } from "../core/file-urls.js";

/** The homeserver's media repository refused or failed a request. */
export class MatrixMediaError extends Error {
  constructor(message: string, readonly statusCode: number | undefined, readonly errcode?: string) {
    super(message);
    this.name = "MatrixMediaError";
  }

  /** A 4xx other than 429: repeating the same request cannot help. */
  get permanent(): boolean {
    return this.statusCode !== undefined && this.statusCode >= 400 && this.statusCode < 500 && this.statusCode !== 429;
  }
}


export interface MediaDownload {
  status: number;
  headers: IncomingMessage["headers"];
  body: Readable;
}

async function readJson(res: IncomingMessage, limit = 64 * 1024): Promise<Record<string, unknown>> {
  let text = "";
  for await (const chunk of res) {
    text += String(chunk);
    if (text.length > limit) break;
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/**
 * The homeserver's media repository, spoken to as the appservice: files go up and down as streams,
 * never whole in memory (the library's uploadContent takes a Buffer).
 */
export class MatrixMedia {
  constructor(
    private readonly homeserverUrl: string,
    private readonly asToken: string,
  ) {}

  private open(method: "GET" | "POST", path: string, headers: Record<string, string | number>, signal?: AbortSignal): { req: ReturnType<typeof httpRequest>; res: Promise<IncomingMessage> } {
    const url = new URL(path, this.homeserverUrl);
    const request = url.protocol === "https:" ? httpsRequest : httpRequest;
    const req = request(url, { method, headers: { ...headers, authorization: `Bearer ${this.asToken}` }, ...(signal ? { signal } : {}) });
    const res = new Promise<IncomingMessage>((resolve, reject) => {
      req.once("response", resolve);
      req.once("error", reject);
    });
    return { req, res };
  }

  /** Uploads a file as `asUser` (a ghost) and returns its mxc:// URI. */
  upload(file: { path: string; size: number; mediaType: string; name: string }, asUser: string): Promise<string> {
    return this.post(file, asUser, 300_000, (req) => pipeline(createReadStream(file.path), req));
  }

  /** Uploads a small file held in memory (an avatar) as `asUser`. */
  uploadBytes(bytes: Buffer, mediaType: string, name: string, asUser: string): Promise<string> {
    return this.post({ size: bytes.length, mediaType, name }, asUser, 60_000, async (req) => void req.end(bytes));
  }

  private async post(file: { size: number; mediaType: string; name: string }, asUser: string, timeoutMs: number, write: (req: ReturnType<typeof httpRequest>) => Promise<void>): Promise<string> {
    const query = new URLSearchParams({ filename: file.name, user_id: asUser });
    const { req, res } = this.open("POST", `/_matrix/media/v3/upload?${query}`, { "content-type": file.mediaType, "content-length": file.size }, AbortSignal.timeout(timeoutMs));
    await write(req);
    const response = await res;
    const body = await readJson(response);
    if (response.statusCode !== 200 || typeof body.content_uri !== "string") {
      const reason = `${String(body.errcode ?? response.statusCode)} ${typeof body.error === "string" ? body.error : ""}`.trim();
      throw new MatrixMediaError(`the homeserver refused the upload of ${file.name}: ${reason}`, response.statusCode, body.errcode as string | undefined);
    }
    return body.content_uri;
  }

  /**
   * Opens a stream of a file in the media repository (authenticated media, Matrix 1.11). Only a 200
   * comes back as a download; anything else is an error.
   */
  async download(mxc: string, signal?: AbortSignal, thumbnail?: { width: number; height: number }): Promise<MediaDownload> {
    const parts = parseMxc(mxc);
    if (!parts) throw new MatrixMediaError(`not an mxc:// URI: ${String(mxc).slice(0, 100)}`, 400);
    const base = `/_matrix/client/v1/media/${thumbnail ? "thumbnail" : "download"}/${encodeURIComponent(parts.server)}/${encodeURIComponent(parts.mediaId)}`;
    const path = thumbnail ? `${base}?${new URLSearchParams({ width: String(thumbnail.width), height: String(thumbnail.height), method: "scale" })}` : base;
    const { req, res } = this.open("GET", path, {}, signal);
    req.end();
    const response = await res;
    if (response.statusCode !== 200) {
      const body = await readJson(response);
      throw new MatrixMediaError(`the homeserver could not give ${mxc}: ${String(body.errcode ?? response.statusCode)}`, response.statusCode, body.errcode as string | undefined);
    }
    return { status: response.statusCode, headers: response.headers, body: response };
  }

  /** A small file (an avatar) whole, refused when bigger than maxBytes. */
  async downloadBytes(mxc: string, maxBytes: number, thumbnail?: { width: number; height: number }): Promise<{ bytes: Buffer; mediaType: string }> {
    const { headers, body } = await this.download(mxc, AbortSignal.timeout(30_000), thumbnail);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        body.destroy();
        throw new MatrixMediaError(`${mxc} is larger than ${maxBytes} bytes`, 413);
      }
      chunks.push(chunk);
    }
    return { bytes: Buffer.concat(chunks), mediaType: essence(headers["content-type"]) ?? "application/octet-stream" };
  }
}
