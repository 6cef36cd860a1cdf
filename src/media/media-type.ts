/** What a downloaded file is and what to call it: a media type checked against the file's bytes, and a harmless
 * display name. Pure functions. */
import path from "node:path";
import { MIMEType } from "node:util";
import { parse as parseDisposition } from "content-disposition";
import type { FileTypeResult } from "file-type";
import mime from "mime-types";

const MAX_NAME = 200;
/** An extension longer than this is taken for part of the name when a long name is cut. */
const MAX_EXTENSION = 16;
/** Kinds a Matrix client renders inline, so a file that claims one must really be one. */
const RENDERED = new Set(["image", "video", "audio"]);
const WEB_PAGES = new Set(["text/html", "application/xhtml+xml"]);
const SVG = "image/svg+xml";
/** Control characters; format characters, whose bidi overrides can make "gnp.exe" read as "exe.png"; line and paragraph separators. */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

const topLevel = (type: string): string => type.slice(0, type.indexOf("/"));

/** The bare, lowercased type of a Content-Type value ("image/png" for "Image/PNG; q=1"), or undefined when it is absent or malformed. */
export function essence(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  try {
    return new MIMEType(contentType).essence;
  } catch {
    return undefined;
  }
}

/** A web page is what a link to a site (not to a file) leads to; it is refused rather than uploaded as a file. */
export const isWebPage = (type: string | undefined): boolean => type !== undefined && WEB_PAGES.has(type);

export type MediaTypeVerdict = { mediaType: string } | { mismatch: string };

/** Decides a file's media type from what the server or sender declared and what file-type recognised in its first bytes.
 * The bytes win over the label, except that a file labelled as media must be media of that kind, since clients render
 * those inline. The caller has already refused declared web pages. */
export function checkMediaType(declared: string | undefined, sniffed: FileTypeResult | undefined): MediaTypeVerdict {
  // SVG is text that file-type recognises as XML at best; it is taken at its word and treated as a plain file.
  if (declared === SVG && (sniffed === undefined || sniffed.mime === "application/xml")) return { mediaType: SVG };
  const claimsMedia = declared !== undefined && RENDERED.has(topLevel(declared));
  if (sniffed !== undefined) {
    return claimsMedia && topLevel(sniffed.mime) !== topLevel(declared)
      ? { mismatch: `the file claims to be ${declared} but is ${sniffed.mime}` }
      : { mediaType: sniffed.mime };
  }
  if (claimsMedia) return { mismatch: `the file claims to be ${declared} but is text or of an unknown kind` };
  return { mediaType: declared ?? "application/octet-stream" };
}

function sanitize(raw: string): string {
  const clean = raw.replace(UNPRINTABLE, "").replace(/[/\\]/g, "_").trim();
  return /^\.*$/.test(clean) ? "" : clean;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // a stray "%" is part of the name
  }
}

/** Cuts a name to MAX_NAME characters (code points, so no surrogate pair is split), keeping a short extension. */
function fit(name: string): string {
  const chars = Array.from(name);
  if (chars.length <= MAX_NAME) return name;
  const extension = Array.from(path.extname(name));
  const kept = extension.length <= MAX_EXTENSION ? extension : [];
  return [...chars.slice(0, MAX_NAME - kept.length), ...kept].join("");
}

/** The name to show for a file: the server's Content-Disposition filename, else the URL's last path segment, else
 * "file"; without path separators or invisible characters, and with an extension for its media type if it has none. */
export function displayName(disposition: string | undefined, url: URL, mediaType: string): string {
  const fromServer = disposition === undefined ? "" : sanitize(parseDisposition(disposition).parameters.filename ?? "");
  const name = fromServer || sanitize(decodeSegment(url.pathname.split("/").pop() ?? "")) || "file";
  const extension = path.extname(name) === "" ? mime.extension(mediaType) : false;
  return fit(extension ? `${name}.${extension}` : name);
}
