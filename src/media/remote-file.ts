/** Downloads a file that an XMPP user shared by URL (XEP-0066, XEP-0363, XEP-0447) so it can be re-uploaded to Matrix.
 * The URL is hostile input: only public addresses are dialled (checked on the address the socket connects to, so DNS
 * rebinding cannot slip through), size and time are bounded, and the media type is checked against the bytes. */
import { lookup } from "node:dns";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import { isIP, type LookupFunction } from "node:net";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { fileTypeFromBuffer } from "file-type";
import { imageSize } from "image-size";
import ipaddr from "ipaddr.js";
import { checkMediaType, displayName, essence, isWebPage } from "./media-type.js";

export interface FetchLimits {
  /** Whole-file size limit. */
  maxBytes: number;
  /** Overall deadline: connect + headers + body, across redirects. */
  timeoutMs: number;
  maxRedirects: number;
  /** Hosts the admin allows even though they resolve to loopback/private addresses: "host" or "host:port" entries, case-insensitive. */
  allowedHosts: readonly string[];
}

export type FetchFailure =
  | "bad-url"
  | "refused-address"
  | "too-many-redirects"
  | "http-status"
  | "too-large"
  | "wrong-type"
  | "timeout"
  | "network";

/** Why a shared file could not be fetched; the message is meant for the user who shared it. */
export class RemoteFileError extends Error {
  override readonly name = "RemoteFileError";
  constructor(
    readonly reason: FetchFailure,
    /** The URL being fetched when it failed: the shared one, or a redirect's target. */
    readonly url: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface RemoteFile {
  /** A temporary file holding the bytes, alone in its own directory. */
  path: string;
  size: number;
  mediaType: string;
  /** A display name, sanitized; never a path to write to. */
  name: string;
  width?: number;
  height?: number;
  /** Removes the temporary directory; safe to call twice. */
  dispose(): Promise<void>;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Held in memory while streaming: enough for file-type, and for image-size to find any common image's dimensions. */
const HEAD_BYTES = 512 * 1024;
// Identity encoding, so Content-Length and the counted bytes are the file's real size.
const HEADERS = { "user-agent": "matrix-xmpp-bridge", "accept-encoding": "identity" };
// All of IPv6 global unicast. ipaddr.js calls every address it has no name for "unicast", which would let the
// obsolete IPv4-compatible ::a.b.c.d through.
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR("2000::/3");

function isPublic(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  const ip = ipaddr.process(address); // ::ffff:a.b.c.d becomes a.b.c.d, judged as IPv4
  return ip.range() === "unicast" && (ip.kind() === "ipv4" || ip.match(GLOBAL_UNICAST_V6));
}

const refused = (url: URL): RemoteFileError =>
  new RemoteFileError("refused-address", url.href, `${url.hostname} is a private or local address`);

function formatSize(bytes: number): string {
  const units = ["bytes", "KB", "MB", "GB"];
  let unit = 0;
  for (; bytes >= 1024 && unit < units.length - 1; unit++) bytes /= 1024;
  return `${Number(bytes.toFixed(1))} ${units[unit]}`;
}

const tooLarge = (url: URL, maxBytes: number): RemoteFileError =>
  new RemoteFileError("too-large", url.href, `the file is larger than ${formatSize(maxBytes)}`);

interface Hop {
  url: URL;
  /** The admin allowlisted this host, so its address is not checked. */
  allowed: boolean;
}

/** Parses and checks the URL of one hop. IP literals are checked here, because Node connects to them without a lookup. */
function checkHop(raw: string, base: URL | undefined, allowedHosts: readonly string[]): Hop {
  const url = URL.parse(raw, base?.href);
  if (url === null || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new RemoteFileError("bad-url", raw, "the link is not an http or https address");
  }
  if (url.username !== "" || url.password !== "") {
    throw new RemoteFileError("bad-url", url.href, "the link contains a user name or password");
  }
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  // The URL parser has lowercased the host name and put IPv6 literals in brackets, as admins write them.
  const allowed = allowedHosts.some((entry) => [url.hostname, `${url.hostname}:${port}`].includes(entry.toLowerCase()));
  const literal = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!allowed && isIP(literal) !== 0 && !isPublic(literal)) throw refused(url);
  return { url, allowed };
}

/** dns.lookup that fails the connection when any resolved address is not public; the socket dials only what it returns. */
function guardedLookup(url: URL): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      if (addresses.some(({ address }) => !isPublic(address))) return callback(refused(url), []);
      if (options.all) return callback(null, addresses);
      const [first] = addresses;
      callback(null, first!.address, first!.family);
    });
  };
}

function get({ url, allowed }: Hop, signal: AbortSignal): Promise<IncomingMessage> {
  const client = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    // No shared agent: a pooled socket is never reused for a hop whose checks it did not pass.
    client
      .get(url, { agent: false, headers: HEADERS, signal, lookup: allowed ? undefined : guardedLookup(url) }, resolve)
      .on("error", reject);
  });
}

function dimensions(head: Buffer, mediaType: string): { width?: number; height?: number } {
  // An SVG's size is whatever its text claims, often in relative units: it is shown as a file, not sized.
  if (!mediaType.startsWith("image/") || mediaType === "image/svg+xml") return {};
  try {
    const { width, height, orientation = 1 } = imageSize(head);
    // EXIF orientations 5 to 8 turn the picture a quarter, so it is shown with its sides swapped.
    return orientation >= 5 ? { width: height, height: width } : { width, height };
  } catch {
    return {}; // an unknown format, or dimensions beyond the head
  }
}

/** Downloads a shared file to a private temporary file, within the limits, and tells what it is.
 * Throws RemoteFileError for whatever the link or its server does wrong, and leaves nothing on disk then. */
export async function fetchRemoteFile(
  url: string,
  limits: FetchLimits,
  declared: { mediaType?: string } = {},
): Promise<RemoteFile> {
  const timeout = AbortSignal.timeout(limits.timeoutMs);
  const cancel = new AbortController(); // closes whatever connection is still open on the way out
  const signal = AbortSignal.any([timeout, cancel.signal]);
  const shared = checkHop(url, undefined, limits.allowedHosts);
  let hop = shared;
  const dir = await mkdtemp(path.join(os.tmpdir(), "matrix-xmpp-bridge-"));
  try {
    let response = await get(hop, signal);
    for (let redirects = 0; REDIRECTS.has(response.statusCode ?? 0) && response.headers.location; redirects++) {
      response.destroy();
      if (redirects === limits.maxRedirects) {
        throw new RemoteFileError("too-many-redirects", hop.url.href, `the link redirects more than ${limits.maxRedirects} times`);
      }
      hop = checkHop(response.headers.location, hop.url, limits.allowedHosts);
      response = await get(hop, signal);
    }
    const status = response.statusCode ?? 0;
    if (status < 200 || status > 299) throw new RemoteFileError("http-status", hop.url.href, `the server answered ${status}`);
    if (Number(response.headers["content-length"]) > limits.maxBytes) throw tooLarge(hop.url, limits.maxBytes);
    const type = essence(response.headers["content-type"]) ?? essence(declared.mediaType);
    if (isWebPage(type)) throw new RemoteFileError("wrong-type", hop.url.href, "the link leads to a web page, not a file");

    const file = path.join(dir, "content");
    const head: Buffer[] = [];
    let size = 0;
    // A server may send more than its Content-Length promised, or no length at all: the bytes themselves are counted.
    async function* counted(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
      for await (const chunk of chunks) {
        const before = size;
        size += chunk.length;
        if (size > limits.maxBytes) throw tooLarge(hop.url, limits.maxBytes);
        // A copy, so the rest of the chunk is not kept alive with it.
        if (before < HEAD_BYTES) head.push(Buffer.from(chunk.subarray(0, HEAD_BYTES - before)));
        yield chunk;
      }
    }
    await pipeline(response, counted, createWriteStream(file, { flags: "wx", mode: 0o600 }), { signal });

    const bytes = Buffer.concat(head);
    const verdict = checkMediaType(type, await fileTypeFromBuffer(bytes));
    if ("mismatch" in verdict) throw new RemoteFileError("wrong-type", hop.url.href, verdict.mismatch);
    const { mediaType } = verdict;
    return {
      path: file,
      size,
      mediaType,
      name: displayName(response.headers["content-disposition"], shared.url, mediaType),
      ...dimensions(bytes, mediaType),
      dispose: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    if (err instanceof RemoteFileError) throw err;
    const at = hop.url.href;
    if (timeout.aborted) {
      throw new RemoteFileError("timeout", at, `the server did not deliver the file within ${limits.timeoutMs / 1000} s`, { cause: err });
    }
    throw new RemoteFileError("network", at, "the server could not be reached or broke off the transfer", { cause: err });
  } finally {
    cancel.abort();
  }
}
