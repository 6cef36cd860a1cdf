/** Message formatting between Matrix (org.matrix.custom.html) and XMPP (XEP-0393 Message Styling, XEP-0071 XHTML-IM). Pure functions. */
import { DomUtils, ElementType, Parser, parseDocument } from "htmlparser2";
import { escapeHtml } from "./escape.js";

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
const HEX = /^#[0-9a-f]{6}$/i;
/** Per-tag attributes and their values (href and src are URLs, checked apart); a Map, so `<constructor>` finds nothing. */
const ATTRS = new Map(Object.entries<Record<string, RegExp>>({
  font: { color: /^#?[0-9a-z]{1,20}$/i, "data-mx-color": HEX, "data-mx-bg-color": HEX },
  span: { "data-mx-color": HEX, "data-mx-bg-color": HEX, "data-mx-spoiler": /^[^]{0,200}$/ },
  ol: { start: /^\d{1,9}$/ },
  code: { class: /^language-[\w+#-]{1,40}$/ },
  img: { alt: /^[^]{0,500}$/, title: /^[^]{0,500}$/, width: /^\d{1,5}$/, height: /^\d{1,5}$/ },
}));
const SCHEMES = new Set(["http:", "https:", "ftp:", "mailto:", "magnet:"]);
/** Clients are told to cap nesting at 100; deeper tags are unwrapped so the text survives. */
const MAX_DEPTH = 100;
const MATRIX_TO = "https://matrix.to/#/";
/** HTML -> XEP-0393: tags that start and end a line, and tags that become span directives. */
const BLOCKS = new Set(["p", "div", "blockquote", "pre", "ul", "ol", "li", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
  "table", "thead", "tbody", "tfoot", "tr", "caption", "details", "summary"]);
const MARKS = new Map(Object.entries({ b: "*", strong: "*", i: "_", em: "_", s: "~", del: "~", strike: "~",
  h1: "*", h2: "*", h3: "*", h4: "*", h5: "*", h6: "*" }));
const isSpace = (c: string | undefined): boolean => c !== undefined && /\s/.test(c);

/** The URL if its scheme is one Matrix allows in links; the WHATWG parser sees through "java\tscript:". */
function safeUrl(href: string | undefined): string | undefined {
  const url = href?.trim() ?? "";
  return URL.canParse(url) && SCHEMES.has(new URL(url).protocol) ? url : undefined;
}

/** Visits a tree in document order with an explicit stack, so hostile nesting cannot overflow the call stack.
 * `enter` returns false to skip a node's children, or a function to call after them. */
function walk(root: DomNode, enter: (node: DomNode) => boolean | (() => void)): void {
  const stack: (DomNode | (() => void))[] = [root];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const next = typeof item === "function" ? item() : enter(item);
    if (typeof item === "function" || next === false || !("children" in item)) continue;
    if (typeof next === "function") stack.push(next);
    for (let i = item.children.length - 1; i >= 0; i--) stack.push(item.children[i]!);
  }
}

/** Text of a subtree without the dropped elements. */
function textOf(root: DomNode): string {
  const parts: string[] = [];
  walk(root, (node) => (isText(node) && parts.push(node.data), !(isElement(node) && DROP.has(node.name.toLowerCase()))));
  return parts.join("");
}

/** XHTML-IM styles with CSS (XEP-0071 §7); the declarations Matrix can show become tags. */
function cssWrappers(style: string | undefined): [string, string] {
  const tags: string[] = [];
  for (const declaration of (style ?? "").toLowerCase().split(";")) {
    const [prop = "", value = ""] = declaration.split(":").map((part) => part.trim());
    if (prop === "font-weight" && /^(bold|bolder|[6-9]00)$/.test(value)) tags.push("strong");
    if (prop === "font-style" && /^(italic|oblique)$/.test(value)) tags.push("em");
    if (prop.startsWith("text-decoration") && value.includes("underline")) tags.push("u");
    if (prop.startsWith("text-decoration") && value.includes("line-through")) tags.push("del");
    if (prop === "color" && /^(#[0-9a-f]{6}|[a-z]{1,20})$/.test(value)) tags.push(`font color="${value}"` + (HEX.test(value) ? ` data-mx-color="${value}"` : ""));
  }
  return [tags.map((tag) => `<${tag}>`).join(""), tags.map((tag) => `</${tag.split(" ", 1)[0]}>`).reverse().join("")];
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
  for (const [attr, valid] of Object.entries(ATTRS.get(name) ?? {})) {
    const value = el.attribs[attr];
    if (value !== undefined && valid.test(value)) attrs += ` ${attr}="${escapeHtml(value)}"`;
  }
  if ((name === "span" || name === "font") && attrs === "") return [before, after]; // says nothing
  return [`${before}<${name}${attrs}>`, (["br", "hr", "img"].includes(name) ? "" : `</${name}>`) + after];
}

/** Serializes a parsed tree through the allowlist; comments, doctypes and processing instructions go. */
function renderSafe(root: DomNode, xhtml: boolean): string {
  const out: string[] = [];
  let depth = 0;
  walk(root, (node) => {
    if (isText(node)) out.push(escapeHtml(node.data));
    const tags = isElement(node) ? markup(node, xhtml) : undefined;
    if (tags === null) return false;
    if (tags === undefined || tags[0] === "" || depth >= MAX_DEPTH) return true;
    out.push(tags[0]);
    depth++;
    return () => void (out.push(tags[1]), depth--);
  });
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

/**
 * Whether HTML nests elements deeper than clients are told to show: such markup is no formatting
 * anyone meant (3,000 nested <b> would be 100 asterisks each side), and the plain body says it better.
 */
export function nestedTooDeep(html: string): boolean {
  let depth = 0;
  let deepest = 0;
  const parser = new Parser({ onopentag: () => void (deepest = Math.max(deepest, ++depth)), onclosetag: () => void depth-- }, { decodeEntities: false });
  parser.end(html);
  return deepest > MAX_DEPTH;
}

/** Matrix `formatted_body` (org.matrix.custom.html) -> an XMPP body using XEP-0393 styling. */
export function htmlToStyledText(html: string): string {
  const lines: string[] = [];
  // The line being built, in parts, so a span or link end is fixed up without copying the line.
  const parts: string[] = [];
  let size = 0;
  let written = 0; // puts so far: tells a span whether it got any text
  // List markers and opening directives wait for the first text: an empty span then writes nothing,
  // and a leading space goes before the directive, where XEP-0393 needs it.
  let pending = "";
  let quote = 0;
  const lists: { ordered: boolean; n: number }[] = [];
  const push = (line: string): number => lines.push(quote > 0 ? ">".repeat(quote) + (line ? " " + line : "") : line);
  const flush = (force: boolean): void => {
    if (force || size > 0) push(parts.join("").trimEnd());
    parts.length = size = 0;
  };
  const block = (): void => flush(false);
  const set = (i: number, s: string): void => void ((size += s.length - (parts[i]?.length ?? 0)), (parts[i] = s));
  const put = (s: string): void => void (set(parts.length, pending + s), (pending = ""), written++);
  const last = (): number => parts.findLastIndex((part) => part !== "");
  const text = (s: string): void => {
    let t = s.replace(/[ \t\n\r\f]+/g, " ");
    if (t.startsWith(" ") && (size === 0 || parts[last()]!.endsWith(" "))) t = t.slice(1);
    else if (t.startsWith(" ") && pending !== "") (set(parts.length, " "), (t = t.slice(1)));
    if (t !== "") put(t);
  };
  const mark = (d: string): (() => void) => {
    pending += d;
    const before = written;
    return () => {
      if (written === before) pending = pending.slice(0, -d.length); // still pending: an empty span
      else if (size > 0 && parts[last()]!.endsWith(" ")) (set(last(), parts[last()]!.trimEnd()), put(d + " "));
      else put(d);
    };
  };
  walk(parseDocument(html), (item) => {
    if (isText(item)) text(item.data);
    let after: (() => void) | undefined;
    if (isElement(item)) {
      const name = item.name.toLowerCase();
      if (DROP.has(name)) return false;
      if (BLOCKS.has(name)) block();
      if (name === "pre" || name === "code") {
        // Code keeps its text verbatim; Matrix clients end a block with a newline that only closes its last line.
        const code = textOf(item);
        const body = code.replace(/\n$/, "");
        if (name === "pre") for (const line of ["```", ...(body === "" ? [] : body.split("\n")), "```"]) push(line);
        else if (code !== "") put("`" + code + "`");
        return false;
      }
      const directive = MARKS.get(name);
      const close = directive === undefined ? undefined : mark(directive);
      after = BLOCKS.has(name) ? () => (close?.(), block()) : close;
      if (name === "br") flush(true);
      else if (name === "hr") push("---");
      else if (name === "img") text(item.attribs.alt ?? "");
      else if ((name === "td" || name === "th") && size > 0) put(" | ");
      else if (name === "a") after = link(item.attribs.href?.trim() ?? "");
      else if (name === "blockquote") (quote++, (after = () => (block(), quote--)));
      else if (name === "ul" || name === "ol") {
        const start = item.attribs.start ?? "";
        lists.push({ ordered: name === "ol", n: /^\d{1,9}$/.test(start) ? Number(start) : 1 });
        after = () => (block(), lists.pop());
      } else if (name === "li") {
        const list = lists.at(-1);
        pending = "  ".repeat(Math.max(0, lists.length - 1)) + (list?.ordered ? `${list.n++}. ` : "• ");
        after = () => (block(), (pending = ""));
      }
    }
    return after ?? true;
  });
  flush(false);
  while (lines.at(-1) === "") lines.pop();
  return lines.join("\n");

  /** A link: "text <url>", only the URL when the text is the URL, and only the name for a pill. */
  function link(href: string): () => void {
    put(""); // writes pending directives, so the link text starts at `at`
    const [line, at, sizeAt] = [lines.length, parts.length, size];
    const url = href.startsWith(MATRIX_TO) ? undefined : safeUrl(href);
    const replace = (s: string): void => void ((parts.length = at), (size = sizeAt), set(at, s));
    return () => {
      // Link text longer than this cannot be the URL; not joining it keeps huge inputs linear.
      const inner = lines.length === line && size - sizeAt <= href.length + 16 ? parts.slice(at).join("").trim() : undefined;
      if (href.startsWith(MATRIX_TO)) {
        // A pill: its text is the display name; a bare ID or matrix.to link shows as the localpart.
        let id = href.slice(MATRIX_TO.length).split(/[/?]/, 1)[0] ?? ""; // e.g. "@alice:example.org"
        try {
          id = decodeURIComponent(id);
        } catch {
          // a malformed escape stays raw
        }
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
  }
}

const SPANS: Record<string, string> = { "*": "strong", _: "em", "~": "del", "`": "code" };

/** Strips up to `max` block quote levels (">" plus an optional space each, XEP-0393 §6.1.2). */
function unquote(line: string, max: number): [number, string] {
  let [depth, p] = [0, 0];
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
      // §6.1.1: text after the opening fence is only a hint, dropped; the block ends at a closing fence.
      state.styled = true;
      enterBlock(depth);
      const code: string[] = [];
      while (i + 1 < lines.length) {
        const [inner, content] = unquote(lines[i + 1]!, depth);
        if (inner < depth) break; // the parent quote ended: so does the block
        i++;
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

type Content = { body: string; formatted_body?: string };

/** Strips the Matrix reply fallback: <mx-reply> from HTML, and the quoted lines plus blank line from the body. */
export function stripMatrixReplyFallback(content: Content): Content {
  const result: Content = { body: content.body };
  // The fallback is "> <@user:server> text" (or "> * <@user:server> emote") lines, then a blank line.
  if (content.body.startsWith("> <") || content.body.startsWith("> * <")) {
    const lines = content.body.split("\n");
    const end = lines.findIndex((line) => !line.startsWith(">"));
    if (end > 0 && lines[end] === "") result.body = lines.slice(end + 1).join("\n");
  }
  if (content.formatted_body !== undefined) {
    // Cut the elements out of the original string by the parser's offsets, leaving the rest byte for byte.
    const html = content.formatted_body;
    const kept: string[] = [];
    let from = 0;
    walk(parseDocument(html, { withStartIndices: true, withEndIndices: true }), (node) => {
      if (!isElement(node) || node.name.toLowerCase() !== "mx-reply" || node.startIndex === null || node.endIndex === null) return true;
      kept.push(html.slice(from, node.startIndex));
      from = node.endIndex + 1;
      return false;
    });
    result.formatted_body = kept.join("") + html.slice(from);
  }
  return result;
}
