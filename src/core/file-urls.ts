import { createHmac } from "node:crypto";
import { sameSecret } from "./secrets.js";

/** An mxc:// URI's parts, or undefined when it is not one. */
export function parseMxc(uri: unknown): { server: string; mediaId: string } | undefined {
  if (typeof uri !== "string") return undefined;
  const match = /^mxc:\/\/([A-Za-z0-9.:\-[\]]+)\/([A-Za-z0-9_-]+)$/.exec(uri);
  return match ? { server: match[1]!, mediaId: match[2]! } : undefined;
}

/** What a link serves: the file, or a small image of it (XEP-0264) that clients show before downloading. */
export type FileUrlKind = "file" | "thumbnail";

/** The box a thumbnail fits in: one of the sizes Synapse makes by default. */
export const THUMBNAIL_BOX = { width: 320, height: 240 } as const;

/** The key that signs file URLs, derived from the appservice token. */
export const fileUrlKey = (secret: string): Buffer => createHmac("sha256", secret).update("matrix-xmpp-bridge media links").digest();

/**
 * Links to Matrix files that XMPP users can open: the bridge signs what a link points at and until
 * when, so its media listener serves only files someone was sent, and only for a while. The key is
 * derived from a secret the bridge already keeps (the appservice token): no extra setting, stable
 * across restarts, and changed tokens retire old links.
 */
export class FileUrls {
  private readonly key: Buffer;
  readonly basePath: string;

  constructor(secret: string, private readonly publicUrl: string, private readonly lifetimeMs: number) {
    this.key = fileUrlKey(secret);
    this.basePath = new URL(publicUrl).pathname.replace(/\/+$/, "");
  }

  private signature(kind: FileUrlKind, server: string, mediaId: string, expires: string, name: string): string {
    return createHmac("sha256", this.key).update(`${kind}\n${server}\n${mediaId}\n${expires}\n${name}`).digest("base64url").slice(0, 22);
  }

  /**
   * A link to the file, or to the homeserver's thumbnail of it, that works until now + lifetime;
   * undefined for something that is no mxc:// URI.
   */
  urlFor(mxc: string, name: string, now = Date.now(), kind: FileUrlKind = "file"): string | undefined {
    const parts = parseMxc(mxc);
    if (!parts) return undefined;
    const expires = Math.ceil((now + this.lifetimeMs) / 1000).toString(36);
    const safeName = fileNameForUrl(name);
    const sig = this.signature(kind, parts.server, parts.mediaId, expires, safeName);
    const path = [parts.server, parts.mediaId, expires, sig, safeName].map(encodeURIComponent).join("/");
    return `${this.publicUrl.replace(/\/+$/, "")}/${kind === "thumbnail" ? "thumbnail/" : ""}${path}`;
  }

  /** Whether a link's parts are ones this bridge signed, and still valid. */
  check(link: { kind: FileUrlKind; server: string; mediaId: string; expires: string; sig: string; name: string }, now = Date.now()): "valid" | "expired" | "forged" {
    if (!sameSecret(link.sig, this.signature(link.kind, link.server, link.mediaId, link.expires, link.name))) return "forged";
    return parseInt(link.expires, 36) * 1000 > now ? "valid" : "expired";
  }
}

/**
 * The last part of a link: the file's name, which XMPP clients show and use to guess its type, kept
 * to characters that survive every client's URL handling.
 */
export function fileNameForUrl(name: string): string {
  const cleaned = name
    .normalize("NFC")
    .replace(/[\u0000-\u001f\u007f/\\?#%]+/g, "_")
    .trim()
    .slice(-120);
  return cleaned === "" || cleaned === "." || cleaned === ".." ? "file" : cleaned;
}
