/**
 * Message formatting between Matrix (org.matrix.custom.html) and XMPP (XEP-0393 Message Styling,
 * XEP-0071 XHTML-IM). Pure functions. HTML is parsed with htmlparser2 and every tree walk uses an
 * explicit stack, so hostile nesting depth cannot overflow the call stack.
 */
import { DomUtils, ElementType, parseDocument } from "htmlparser2";

type Document = ReturnType<typeof parseDocument>;
type DomNode = Document | Document["children"][number];
// The node types of htmlparser2's own domhandler (a different major than the one at top level).
type Element = Parameters<typeof DomUtils.getAttributeValue>[0];
type Text = Extract<DomNode, { type: typeof ElementType.Text }>;
const isText = (node: DomNode): node is Text => node.type === ElementType.Text;
const isElement = (node: DomNode): node is Element => ElementType.isTag(node);

/** Elements dropped with everything inside: active content, metadata and spoofable reply fallbacks. */
const DROP = new Set(["script", "style", "iframe", "object", "embed", "noscript", "template", "head", "title",
  "textarea", "select", "svg", "math", "mx-reply"]);
/** The Matrix spec's allowed tags; any other tag is unwrapped and keeps its text. */
const KEEP = new Set(["font", "del", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "p", "a", "ul", "ol", "sup",
  "sub", "li", "b", "i", "u", "strong", "em", "s", "strike", "code", "hr", "br", "div", "table", "thead", "tbody",
  "tfoot", "tr", "th", "td", "caption", "pre", "span", "img", "details", "summary"]);
const VOID = new Set(["br", "hr", "img"]);
const HEX = /^#[0-9a-f]{6}$/i;
/** Per-tag attribute allowlist with value checks; href and src are checked as URLs separately. */
const ATTRS: Record<string, Record<string, RegExp>> = {
  font: { color: /^#?[0-9a-z]{1,20}$/i, "data-mx-color": HEX, "data-mx-bg-color": HEX },
  span: { "data-mx-color": HEX, "data-mx-bg-color": HEX, "data-mx-spoiler": /^[^]{0,200}$/ },
  ol: { start: /^\d{1,9}$/ },
  code: { class: /^language-[\w+#-]{1,40}$/ },
  img: { alt: /^[^]{0,500}$/, title: /^[^]{0,500}$/, width: /^\d{1,5}$/, height: /^\d{1,5}$/ },
};
const SCHEMES = new Set(["http:", "https:", "ftp:", "mailto:", "magnet:"]);
/** Clients are told to cap nesting at 100; deeper tags are unwrapped so the text survives. */
const MAX_DEPTH = 100;
const MATRIX_TO = "https://matrix.to/#/";
const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" };

const escapeHtml = (text: string): string => text.replace(/[&<>"]/g, (c) => ENTITIES[c] ?? c);
const isSpace = (c: string | undefined): boolean => c !== undefined && /\s/.test(c);

/** The URL if its scheme is one Matrix allows in links; the WHATWG parser sees through "java\tscript:". */
function safeUrl(href: string | undefined): string | undefined {
  const url = href?.trim() ?? "";
  return URL.canParse(url) && SCHEMES.has(new URL(url).protocol) ? url : undefined;
}

/** Text of a subtree without the dropped elements. */
function textOf(root: DomNode): string {
  const parts: string[] = [];
  const stack: DomNode[] = [root];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (isText(node)) parts.push(node.data);
    else if (isElement(node) && DROP.has(node.name.toLowerCase())) continue;
    else if ("children" in node) for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]!);
  }
  return parts.join("");
}

/** XHTML-IM styles with CSS (XEP-0071 §7); the declarations Matrix can show become tags. */
function cssWrappers(style: string | undefined): [string, string] {
  let open = "";
  let close = "";
  const wrap = (tag: string, attrs = ""): void => {
    open += `<${tag}${attrs}>`;
    close = `</${tag}>` + close;
  };
  for (const declaration of (style ?? "").split(";")) {
    const colon = declaration.indexOf(":");
    if (colon < 0) continue;
    const prop = declaration.slice(0, colon).trim().toLowerCase();
    const value = declaration.slice(colon + 1).trim().toLowerCase();
    if (prop === "font-weight" && /^(bold|bolder|[6-9]00)$/.test(value)) wrap("strong");
    if (prop === "font-style" && /^(italic|oblique)/.test(value)) wrap("em");
    if (prop.startsWith("text-decoration") && value.includes("underline")) wrap("u");
    if (prop.startsWith("text-decoration") && value.includes("line-through")) wrap("del");
    if (prop === "color" && /^(#[0-9a-f]{6}|[a-z]{1,20})$/.test(value)) {
      wrap("font", ` color="${value}"` + (HEX.test(value) ? ` data-mx-color="${value}"` : ""));
    }
  }
  return [open, close];
}

/** Opening and closing markup for an element, or null to drop it with its content. */
function markup(el: Element, xhtml: boolean): [string, string] | null {
  let name = el.name.toLowerCase();
  if (DROP.has(name)) return null;
  const [before, after] = xhtml ? cssWrappers(el.attribs.style) : ["", ""];
  if (xhtml && name === "cite") name = "em";
  if (name === "img" && !el.attribs.src?.trim().startsWith("mxc://")) {
    // Matrix shows only mxc: images; an XMPP client's web image becomes a link to it instead.
    const url = xhtml ? safeUrl(el.attribs.src) : undefined;
    const alt = escapeHtml(el.attribs.alt ?? "");
    return [url ? `<a href="${escapeHtml(url)}">${alt || escapeHtml(url)}</a>` : alt, ""];
  }
  const href = name === "a" ? safeUrl(el.attribs.href) : undefined;
  if (!KEEP.has(name) || (name === "a" && href === undefined)) return [before, after];
  let attrs = href !== undefined ? ` href="${escapeHtml(href)}"` : "";
  if (name === "img") attrs += ` src="${escapeHtml(el.attribs.src!.trim())}"`;
  for (const [attr, valid] of Object.entries(ATTRS[name] ?? {})) {
    const value = el.attribs[attr];
    if (value !== undefined && valid.test(value)) attrs += ` ${attr}="${escapeHtml(value)}"`;
  }
  if ((name === "span" || name === "font") && attrs === "") return [before, after]; // says nothing
  return [`${before}<${name}${attrs}>`, (VOID.has(name) ? "" : `</${name}>`) + after];
}

/** Serializes a parsed tree through the allowlist; strings on the stack are closing markup. */
function renderSafe(root: DomNode, xhtml: boolean): string {
  const out: string[] = [];
  const stack: (string | { node: DomNode; depth: number })[] = [{ node: root, depth: 0 }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if (typeof item === "string") {
      out.push(item);
      continue;
    }
    const { node } = item;
    let depth = item.depth;
    if (isText(node)) out.push(escapeHtml(node.data));
    if (!("children" in node)) continue; // comments, doctypes and processing instructions go
    if (isElement(node)) {
      const tags = markup(node, xhtml);
      if (tags === null) continue;
      if (depth < MAX_DEPTH && tags[0] !== "") {
        out.push(tags[0]);
        stack.push(tags[1]);
        depth++;
      }
    }
    for (let i = node.children.length - 1; i >= 0; i--) stack.push({ node: node.children[i]!, depth });
  }
  return out.join("");
}

/** Sanitizes any HTML to the subset Matrix allows in org.matrix.custom.html. */
export function sanitizeMatrixHtml(html: string): string {
  return renderSafe(parseDocument(html), false);
}

/** XEP-0071 XHTML-IM body markup (with or without the <body> wrapper) -> sanitized Matrix HTML. */
export function xhtmlImToHtml(xhtml: string): string {
  return renderSafe(parseDocument(xhtml, { xmlMode: true }), true);
}

/** The Matrix ID a matrix.to link points at, e.g. "@alice:example.org". */
function matrixToId(href: string): string {
  const target = href.slice(MATRIX_TO.length).split(/[/?]/, 1)[0] ?? "";
  try {
    return decodeURIComponent(target);
  } catch {
    return target; // a malformed escape keeps the raw text
  }
}

/** Matrix `formatted_body` (org.matrix.custom.html) -> an XMPP body using XEP-0393 styling. */
export function htmlToStyledText(html: string): string {
  const lines: string[] = [];
  let cur = ""; // the line being built, without its quote prefix
  let pending = ""; // a list marker, written before the item's first text
  let quote = 0;
  const lists: { ordered: boolean; n: number }[] = [];
  const push = (line: string): number => lines.push(quote > 0 ? ">".repeat(quote) + (line ? " " + line : "") : line);
  const flush = (force: boolean): void => {
    if (force || cur !== "") push(cur.trimEnd());
    cur = "";
  };
  const put = (s: string): void => {
    cur += pending + s;
    pending = "";
  };
  const text = (s: string): void => {
    let t = s.replace(/[ \t\n\r\f]+/g, " ");
    if (cur === "" || cur.endsWith(" ")) t = t.trimStart();
    if (t !== "") put(t);
  };
  // A span directive; the closer drops an empty span and keeps the closing directive off whitespace.
  const mark = (d: string): (() => void) => {
    put(d);
    const line = lines.length;
    const at = cur.length;
    return () => {
      if (lines.length === line && cur.length === at) cur = cur.slice(0, -d.length);
      else if (cur.endsWith(" ")) cur = cur.slice(0, -1) + d + " ";
      else put(d);
    };
  };
  const block = (): void => flush(false);
  const stack: (DomNode | (() => void))[] = [parseDocument(html)];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if (typeof item === "function") {
      item();
      continue;
    }
    if (isText(item)) text(item.data);
    if (!("children" in item)) continue;
    let after: (() => void) | undefined;
    if (isElement(item)) {
      const name = item.name.toLowerCase();
      if (DROP.has(name)) continue;
      if (name === "br") flush(true);
      else if (name === "pre") {
        block();
        // Matrix clients end code with a newline; it closes the last line rather than adding one.
        const code = textOf(item).replace(/\n$/, "");
        for (const line of ["```", ...(code === "" ? [] : code.split("\n")), "```"]) push(line);
        continue;
      } else if (name === "code") {
        const code = textOf(item);
        if (code !== "") put("`" + code + "`");
        continue;
      } else if (name === "img") text(item.attribs.alt ?? "");
      else if (name === "hr") {
        block();
        push("---");
      } else if (name === "b" || name === "strong") after = mark("*");
      else if (name === "i" || name === "em") after = mark("_");
      else if (name === "s" || name === "del" || name === "strike") after = mark("~");
      else if (/^h[1-6]$/.test(name)) {
        block();
        const close = mark("*");
        after = () => (close(), block());
      } else if (name === "blockquote") {
        block();
        quote++;
        after = () => (block(), quote--);
      } else if (name === "ul" || name === "ol") {
        block();
        const start = Number.parseInt(item.attribs.start ?? "1", 10);
        lists.push({ ordered: name === "ol", n: Number.isSafeInteger(start) ? start : 1 });
        after = () => (block(), lists.pop());
      } else if (name === "li") {
        block();
        const list = lists.at(-1);
        pending = "  ".repeat(Math.max(0, lists.length - 1)) + (list?.ordered ? `${list.n++}. ` : "• ");
        after = () => (block(), (pending = ""));
      } else if (name === "td" || name === "th") {
        if (cur !== "") put(" | ");
      } else if (name === "a") {
        const href = item.attribs.href?.trim() ?? "";
        const url = href.startsWith(MATRIX_TO) ? undefined : safeUrl(href);
        put(""); // writes a pending list marker, so the link text starts at `at`
        const line = lines.length;
        const at = cur.length;
        const replace = (s: string): void => void (cur = cur.slice(0, at) + s);
        after = () => {
          const inner = lines.length === line ? cur.slice(at).trim() : undefined;
          if (href.startsWith(MATRIX_TO)) {
            // A pill: its text is the display name; a bare ID or matrix.to link shows as the localpart.
            const id = matrixToId(href);
            const local = /^[@#]/.test(id) ? (id.split(":", 1)[0] ?? "").replace(/^@/, "") : "";
            if (inner === "" || inner?.startsWith(MATRIX_TO) || inner === id) replace(local);
          } else if (url !== undefined) {
            const shown = url.startsWith("mailto:") ? url.slice("mailto:".length) : url;
            // Text that is the URL itself, give or take its scheme or a final slash, is not repeated.
            const bare = (s: string): string => s.replace(/^(https?:\/\/|mailto:)/i, "").replace(/\/$/, "");
            if (inner === "" || (inner !== undefined && url.startsWith("mailto:") && bare(inner) === shown)) replace(shown);
            else if (inner === undefined || bare(inner) !== bare(shown)) put(` <${shown}>`);
          }
        };
      } else if (["p", "div", "tr", "table", "thead", "tbody", "tfoot", "caption", "details", "summary"].includes(name)) {
        block();
        after = block;
      }
    }
    if (after) stack.push(after);
    for (let i = item.children.length - 1; i >= 0; i--) stack.push(item.children[i]!);
  }
  flush(false);
  while (lines.at(-1) === "") lines.pop();
  return lines.join("\n");
}

const SPANS: Record<string, string> = { "*": "strong", _: "em", "~": "del", "`": "code" };

/** Strips up to `max` block quote levels (">" plus an optional space each, XEP-0393 §6.1.2). */
function unquote(line: string, max: number): [number, string] {
  let depth = 0;
  let p = 0;
  for (; depth < max && line[p] === ">"; depth++) p += line[p + 1] === " " ? 2 : 1;
  return [depth, line.slice(p)];
}

/** XEP-0393 §6.2 spans of one line, as HTML; `styled` is set when any span was found. */
function spansToHtml(line: string, state: { styled: boolean }): string {
  // The first valid closing directive of each kind at or after a position. Lookups only move
  // forward along the line, so one cached answer per directive keeps the whole line linear.
  const found = new Map<string, number>();
  const findClose = (c: string, from: number): number => {
    const known = found.get(c);
    if (known !== undefined && known >= from) return known;
    let j = from;
    while (j < line.length && !(line[j] === c && !isSpace(line[j - 1]))) j++;
    found.set(c, j);
    return j;
  };
  // Recursion depth is at most four: a directive cannot nest inside a span of its own kind.
  const spans = (from: number, to: number, open: string): string => {
    let out = "";
    let plain = from;
    for (let i = from; i < to; i++) {
      const c = line[i]!;
      const tag = SPANS[c];
      // An opening directive starts the line or its parent span, or follows whitespace; no space after it.
      if (!tag || open.includes(c) || !(i === from || isSpace(line[i - 1])) || isSpace(line[i + 1])) continue;
      const j = findClose(c, i + 2); // i + 2: a span is never empty
      if (j >= to) continue;
      state.styled = true;
      const inner = c === "`" ? escapeHtml(line.slice(i + 1, j)) : spans(i + 1, j, open + c);
      out += escapeHtml(line.slice(plain, i)) + `<${tag}>${inner}</${tag}>`;
      i = j;
      plain = j + 1;
    }
    return out + escapeHtml(line.slice(plain, to));
  };
  return spans(0, line.length, "");
}

/** An XMPP body with XEP-0393 styling -> sanitized Matrix HTML, or undefined when nothing is styled. */
export function styledTextToHtml(body: string): string | undefined {
  const lines = body.split("\n");
  const state = { styled: false };
  const out: string[] = [];
  let open = 0; // block quotes open
  // What precedes in the current container: lines are joined with <br>, and a blank line just before
  // a block needs one more <br>, because a <br> right before a block ends a line but adds none.
  let prev: "none" | "text" | "blank" = "none";
  const enterBlock = (depth: number): void => {
    if (prev === "blank") out.push("<br>");
    for (; open > depth; open--) out.push("</blockquote>");
    for (; open < depth; open++) out.push("<blockquote>");
    prev = "none";
  };
  for (let i = 0; i < lines.length; i++) {
    const [depth, rest] = unquote(lines[i]!, Infinity);
    if (depth > 0) state.styled = true;
    if (depth !== open) enterBlock(depth);
    if (rest.startsWith("```")) {
      // §6.1.1: text after the opening fence is only a hint, dropped; the block ends at a closing
      // fence or where its parent quote ends.
      state.styled = true;
      enterBlock(depth);
      const code: string[] = [];
      while (++i < lines.length) {
        const [inner, content] = unquote(lines[i]!, depth);
        if (inner < depth) {
          i--;
          break;
        }
        if (content.trimEnd() === "```") break;
        code.push(content);
      }
      out.push(`<pre><code>${escapeHtml(code.map((line) => line + "\n").join(""))}</code></pre>`);
      continue;
    }
    if (prev !== "none") out.push("<br>");
    out.push(spansToHtml(rest, state));
    prev = rest === "" ? "blank" : "text";
  }
  for (; open > 0; open--) out.push("</blockquote>");
  return state.styled ? out.join("") : undefined;
}

/** Strips the Matrix reply fallback: <mx-reply> from HTML, and the quoted lines plus blank line from the body. */
export function stripMatrixReplyFallback(content: { body: string; formatted_body?: string }): { body: string; formatted_body?: string } {
  const result: { body: string; formatted_body?: string } = { body: content.body };
  // The fallback is "> <@user:server> text" (or "> * <@user:server> emote") lines, then a blank line.
  if (content.body.startsWith("> <") || content.body.startsWith("> * <")) {
    const lines = content.body.split("\n");
    const end = lines.findIndex((line) => !line.startsWith(">"));
    if (end > 0 && lines[end] === "") result.body = lines.slice(end + 1).join("\n");
  }
  if (content.formatted_body !== undefined) {
    // Cut the elements out of the original string by the parser's offsets, leaving the rest byte for byte.
    const html = content.formatted_body;
    const stack: DomNode[] = [parseDocument(html, { withStartIndices: true, withEndIndices: true })];
    const kept: string[] = [];
    let from = 0;
    for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
      if (isElement(node) && node.name.toLowerCase() === "mx-reply" && node.startIndex !== null && node.endIndex !== null) {
        kept.push(html.slice(from, node.startIndex));
        from = node.endIndex + 1;
      } else if ("children" in node) for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]!);
    }
    result.formatted_body = kept.join("") + html.slice(from);
  }
  return result;
}
