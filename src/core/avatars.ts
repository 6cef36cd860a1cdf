import { createHash } from "node:crypto";
import { fileTypeFromBuffer } from "file-type";

/**
 * Avatars, whichever side they come from: an image of at most AVATAR_MAX_BYTES, known by the SHA-1 of
 * its bytes (the hash XEP-0153 and XEP-0084 announce). Anything else is refused with a reason.
 */
export const AVATAR_MAX_BYTES = 1024 * 1024;

export interface Avatar {
  bytes: Buffer;
  /** The media type the bytes really have (read from them, not from what the sender claimed). */
  mediaType: string;
  /** Lowercase hex SHA-1 of the bytes. */
  sha1: string;
}

/** An avatar that cannot be bridged: too big, not base64, not an image. */
export class AvatarRejectedError extends Error {
  constructor(readonly reason: string) {
    super(`avatar refused: ${reason}`);
    this.name = "AvatarRejectedError";
  }
}

export const sha1Hex = (bytes: Uint8Array): string => createHash("sha1").update(bytes).digest("hex");

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes base64 text (XML may wrap it in whitespace), refusing what is not base64 or would decode to
 * more than maxBytes, before decoding anything: Buffer.from would skip bad characters silently.
 */
export function decodeBase64(text: string, maxBytes = AVATAR_MAX_BYTES): Buffer {
  // A cheap bound first, so a huge text is never copied.
  if (text.length > Math.ceil((maxBytes * 4) / 3) * 2 + 4096) throw new AvatarRejectedError(`larger than ${maxBytes} bytes`);
  const compact = text.replace(/\s+/g, "");
  if (compact.length % 4 !== 0 || !BASE64.test(compact)) throw new AvatarRejectedError("not valid base64");
  if ((compact.length / 4) * 3 - (compact.match(/=+$/)?.[0].length ?? 0) > maxBytes) throw new AvatarRejectedError(`larger than ${maxBytes} bytes`);
  return Buffer.from(compact, "base64");
}

/** Checks that the bytes are an image small enough to be an avatar. */
export async function inspectAvatar(bytes: Buffer): Promise<Avatar> {
  if (bytes.length === 0) throw new AvatarRejectedError("empty");
  if (bytes.length > AVATAR_MAX_BYTES) throw new AvatarRejectedError(`larger than ${AVATAR_MAX_BYTES} bytes`);
  const type = await fileTypeFromBuffer(bytes);
  if (!type?.mime.startsWith("image/")) throw new AvatarRejectedError(type ? `not an image but ${type.mime}` : "not an image");
  return { bytes, mediaType: type.mime, sha1: sha1Hex(bytes) };
}
