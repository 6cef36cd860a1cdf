/** Files in messages: Matrix media events and XMPP file links, both ways. Pure functions. */
import { toMatrixContent } from "./messages.js";
import type { ChatMessage, SharedFile } from "./model.js";

const MEDIA_MSGTYPES = ["m.image", "m.video", "m.audio", "m.file"] as const;
export type MediaMsgtype = (typeof MEDIA_MSGTYPES)[number];

/** The Matrix msgtype that shows a file of this media type best. */
export function msgtypeFor(mediaType: string | undefined): MediaMsgtype {
  const top = mediaType?.split("/")[0];
  // SVG is an image only by name: clients that render it inline run its scripts.
  if (top === "image" && mediaType !== "image/svg+xml") return "m.image";
  if (top === "video") return "m.video";
  if (top === "audio") return "m.audio";
  return "m.file";
}

const positive = (value: unknown): number | undefined => (typeof value === "number" && Number.isSafeInteger(value) && value > 0 ? value : undefined);
const text = (value: unknown): string | undefined => (typeof value === "string" && value.trim() !== "" ? value : undefined);

/** A Matrix media message, read: the file (url is its mxc:// URI) and the caption, if any (Matrix 1.10). */
export interface MatrixMediaMessage {
  file: SharedFile;
  caption?: ChatMessage;
}

/**
 * The file of an m.image/m.video/m.audio/m.file message (or an m.sticker event's content); undefined
 * for anything else, encrypted files included (the bridge holds no keys). The body is a caption
 * only when a separate filename is given and differs from it.
 */
export function fileOfMatrixContent(content: Record<string, unknown> | undefined, eventType = "m.room.message"): MatrixMediaMessage | undefined {
  if (!content || typeof content.url !== "string" || !content.url.startsWith("mxc://")) return undefined;
  if (eventType === "m.room.message" && !MEDIA_MSGTYPES.includes(content.msgtype as MediaMsgtype)) return undefined;
  const info = (typeof content.info === "object" && content.info !== null ? content.info : {}) as Record<string, unknown>;
  const body = text(content.body);
  const filename = text(content.filename);
  const file: SharedFile = { url: content.url, name: filename ?? body ?? "file" };
  const mediaType = text(info.mimetype);
  if (mediaType) file.mediaType = mediaType.toLowerCase();
  const size = positive(info.size);
  if (size) file.size = size;
  const width = positive(info.w);
  const height = positive(info.h);
  if (width && height) Object.assign(file, { width, height });
  const durationMs = positive(info.duration);
  if (durationMs) file.durationMs = durationMs;
  if (!filename || !body || body === filename) return { file };
  const html = content.format === "org.matrix.custom.html" && typeof content.formatted_body === "string" ? content.formatted_body : undefined;
  return { file, caption: { body, ...(html ? { html } : {}) } };
}

/** A file uploaded to the media repository, as Matrix content, with the XMPP message's text as its caption. */
export function matrixContentOfFile(file: SharedFile & { mediaType: string; size: number; name: string }, caption?: ChatMessage): Record<string, unknown> {
  const info: Record<string, unknown> = { mimetype: file.mediaType, size: file.size };
  if (file.width && file.height) Object.assign(info, { w: file.width, h: file.height });
  if (file.durationMs) info.duration = file.durationMs;
  const captionContent = caption && caption.body.trim() !== "" ? toMatrixContent(caption) : undefined;
  return {
    ...captionContent,
    msgtype: msgtypeFor(file.mediaType),
    body: captionContent ? captionContent.body : file.name,
    filename: file.name,
    url: file.url,
    info,
    ...(captionContent ? {} : { "m.mentions": {} }),
  };
}

/**
 * What a message with shared files says besides them: XMPP clients put the link itself in the body
 * (XEP-0066 §4 asks them to, so that clients without OOB see it), which is no caption.
 */
export function captionOf(body: string, urls: readonly string[]): string {
  let rest = body;
  for (const url of urls) rest = rest.split(url).join(" ");
  return rest.replace(/[ \t]+\n/g, "\n").replace(/[ \t]{2,}/g, " ").trim();
}
