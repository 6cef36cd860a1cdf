import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseDocument } from "htmlparser2";
import {
  htmlToStyledText,
  sanitizeMatrixHtml,
  stripMatrixReplyFallback,
  styledTextToHtml,
  xhtmlImToHtml,
} from "../../src/core/formatting.js";

/** Every element of some HTML with its attributes, read back with a real parser (no regex guesses). */
function elements(html: string): { name: string; attribs: Record<string, string> }[] {
  const found: { name: string; attribs: Record<string, string> }[] = [];
  const stack: unknown[] = [parseDocument(html)];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    const n = node as { name?: string; attribs?: Record<string, string>; children?: unknown[] };
    if (n.name !== undefined && n.attribs !== undefined) found.push({ name: n.name, attribs: n.attribs });
    if (n.children) stack.push(...n.children);
  }
  return found;
}

/** True when HTML has no active content: no script-like tags, no on* handlers, no javascript: URLs. */
function isInert(html: string): boolean {
  return elements(html).every(
    ({ name, attribs }) =>
      !["script", "style", "iframe", "object", "embed"].includes(name) &&
      Object.entries(attribs).every(([attr, value]) => !attr.startsWith("on") && !/^\s*(javascript|data|vbscript):/i.test(value)),
  );
}

describe("htmlToStyledText", () => {
  it("maps inline styles to XEP-0393 spans", () => {
    assert.equal(htmlToStyledText("<b>bold</b> <strong>strong</strong>"), "*bold* *strong*");
    assert.equal(htmlToStyledText("<i>i</i> <em>em</em> <u>under</u>"), "_i_ _em_ under");
    assert.equal(htmlToStyledText("<s>s</s> <del>del</del> <strike>strike</strike>"), "~s~ ~del~ ~strike~");
    assert.equal(htmlToStyledText("run <code>ls -l *.ts</code> now"), "run `ls -l *.ts` now");
    assert.equal(htmlToStyledText("<b>x </b>y"), "*x* y");
    assert.equal(htmlToStyledText("a<b></b>b"), "ab");
  });
  it("fences code blocks without the language and keeps their text verbatim", () => {
    const html = '<pre><code class="language-ts">const a = 1 &lt; 2;\n  <span>indented</span>\n</code></pre>';
    assert.equal(htmlToStyledText("before" + html + "after"), "before\n```\nconst a = 1 < 2;\n  indented\n```\nafter");
  });
  it("prefixes block quotes, nested ones with more >", () => {
    assert.equal(htmlToStyledText("<blockquote>one<br>two</blockquote>after"), "> one\n> two\nafter");
    assert.equal(htmlToStyledText("<blockquote><p>a</p><blockquote>b</blockquote>c</blockquote>"), "> a\n>> b\n> c");
  });
  it("writes links as text <url>, or only the URL when the text is the URL", () => {
    assert.equal(htmlToStyledText('see <a href="https://example.org/x">the docs</a>'), "see the docs <https://example.org/x>");
    assert.equal(htmlToStyledText('<a href="https://example.org/">https://example.org/</a>'), "https://example.org/");
    assert.equal(htmlToStyledText('<a href="https://example.org/">example.org</a>'), "example.org");
    assert.equal(htmlToStyledText('<a href="mailto:me@example.org">me@example.org</a>'), "me@example.org");
    assert.equal(htmlToStyledText('<a href="mailto:me@example.org">mailto:me@example.org</a>'), "me@example.org");
    assert.equal(htmlToStyledText('<a href="mailto:me@example.org">write me</a>'), "write me <me@example.org>");
    assert.equal(htmlToStyledText('<a href="javascript:alert(1)">click</a>'), "click");
  });
  it("turns pills into names and never leaks Matrix IDs or matrix.to links", () => {
    assert.equal(htmlToStyledText('<a href="https://matrix.to/#/@alice:example.org">Alice</a>: hi'), "Alice: hi");
    const bare = htmlToStyledText('<a href="https://matrix.to/#/%40bob%3Aexample.org">@bob:example.org</a> and <a href="https://matrix.to/#/@carol:example.org">https://matrix.to/#/@carol:example.org</a>');
    assert.equal(bare, "bob and carol");
  });
  it("writes lists as bullet and numbered lines", () => {
    assert.equal(htmlToStyledText("<ul>\n<li>one</li>\n<li><p>two</p></li>\n</ul>"), "• one\n• two");
    assert.equal(htmlToStyledText('<ol start="3"><li>c</li><li>d<ul><li>inner</li></ul></li></ol>'), "3. c\n4. d\n  • inner");
  });
  it("breaks lines at <br> and paragraphs, with no trailing blank lines", () => {
    assert.equal(htmlToStyledText("<p>one</p>\n<p>two</p>"), "one\ntwo");
    assert.equal(htmlToStyledText("a<br><br>b<br><br>"), "a\n\nb");
    assert.equal(htmlToStyledText("<h1>Title</h1><p>text</p>"), "*Title*\ntext");
  });
  it("removes the reply fallback, decodes entities and keeps the text of unknown tags", () => {
    assert.equal(htmlToStyledText("<mx-reply><blockquote>quoted <b>x</b></blockquote></mx-reply>answer"), "answer");
    assert.equal(htmlToStyledText("&amp; &lt;tag&gt; &quot;q&quot; &#x1F600; caf&eacute;"), '& <tag> "q" 😀 café');
    assert.equal(htmlToStyledText("<marquee>still <blink>here</blink></marquee>"), "still here");
    assert.equal(htmlToStyledText("<constructor>a</constructor> <__proto__>b</__proto__> <toString>c</toString>"), "a <__proto__>b c");
    assert.equal(htmlToStyledText("<script>alert(1)</script><style>p{}</style>ok"), "ok");
    assert.equal(htmlToStyledText("<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>"), "a | b\n1 | 2");
  });
  it("survives malformed HTML", () => {
    assert.equal(htmlToStyledText("<b>unclosed <i>nest</b> tail"), "*unclosed _nest_* tail");
    assert.equal(htmlToStyledText("</p></b>text<"), "text<");
    assert.equal(htmlToStyledText("<a href=>x</a><img>"), "x");
  });
});

describe("styledTextToHtml", () => {
  it("renders spans without their directives", () => {
    assert.equal(styledTextToHtml("*bold* _em_ ~del~ `code`"), "<strong>bold</strong> <em>em</em> <del>del</del> <code>code</code>");
    assert.equal(styledTextToHtml("a *b _c_ d* e"), "a <strong>b <em>c</em> d</strong> e");
    assert.equal(styledTextToHtml("*_both_*"), "<strong><em>both</em></strong>");
    assert.equal(styledTextToHtml("`*not bold*`"), "<code>*not bold*</code>");
  });
  it("follows the XEP-0393 rules for where spans open and close", () => {
    assert.equal(styledTextToHtml("2*3*4"), undefined); // opening not at start or after whitespace
    assert.equal(styledTextToHtml("a *b* c"), "a <strong>b</strong> c");
    assert.equal(styledTextToHtml("* not* bold"), undefined); // opening followed by whitespace
    assert.equal(styledTextToHtml("*not *bold"), undefined); // closing preceded by whitespace
    assert.equal(styledTextToHtml("** empty"), undefined);
    assert.equal(styledTextToHtml("*across\nlines*"), undefined);
    assert.equal(styledTextToHtml("snake_case_name"), undefined);
    assert.equal(styledTextToHtml("*a* b*"), "<strong>a</strong> b*"); // the first closing wins
    assert.equal(styledTextToHtml("*a _b* c_"), "<strong>a _b</strong> c_"); // a child closes inside its parent
    assert.equal(styledTextToHtml("plain text, nothing else"), undefined);
  });
  it("renders block quotes, nested too, and their end", () => {
    assert.equal(styledTextToHtml("> quote\n>> nested\n> > nested too\nafter"), "<blockquote>quote<blockquote>nested<br>nested too</blockquote></blockquote>after");
    assert.equal(styledTextToHtml(">no space"), "<blockquote>no space</blockquote>");
  });
  it("renders preformatted blocks unstyled, ending at a fence or at the end of their quote", () => {
    assert.equal(styledTextToHtml("```js\n*a* <b>\n```\n*b*"), "<pre><code>*a* &lt;b&gt;\n</code></pre><strong>b</strong>");
    assert.equal(styledTextToHtml("> ```\n> code\nafter"), "<blockquote><pre><code>code\n</code></pre></blockquote>after");
    assert.equal(styledTextToHtml("```\nnever closed\n> still code"), "<pre><code>never closed\n&gt; still code\n</code></pre>");
  });
  it("escapes all text", () => {
    assert.equal(styledTextToHtml('*<script>alert("x")</script>* & more'), "<strong>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</strong> &amp; more");
    assert.equal(styledTextToHtml("`<img src=x onerror=alert(1)>`"), "<code>&lt;img src=x onerror=alert(1)&gt;</code>");
  });
  it("joins lines with <br>", () => {
    assert.equal(styledTextToHtml("*one*\ntwo\n\nthree"), "<strong>one</strong><br>two<br><br>three");
  });
});

describe("round trips from XEP-0393 to HTML and back", () => {
  const examples = [
    "*bold* _em_ ~del~ `c*o_d~e`",
    "a *b _c_ d* e",
    "> quote\n>> nested\n> back\nafter",
    "> a\n>\n> b\n\nafter the blank line",
    "intro\n\n```\nconst a = 1 < 2 && b > \"c\";\n  indented\n\n```\noutro",
    "> ```\n> quoted code\n> ```\nplain",
    "```\n```\n*empty block*",
    "x & <y> *\"z\"*",
    "first\n\n> q",
    "👩🏽‍💻 *👨‍👩‍👧* _🏳️‍🌈_",
  ];
  for (const text of examples) {
    it(JSON.stringify(text), () => {
      const html = styledTextToHtml(text);
      assert.ok(html !== undefined);
      assert.equal(htmlToStyledText(html), text);
    });
  }
});

describe("sanitizeMatrixHtml", () => {
  it("keeps the Matrix subset", () => {
    const html = '<p><b>b</b> <a href="https://example.org/?a=1&amp;b=2">l</a> <font color="#ff0000" data-mx-color="#ff0000">red</font> <span data-mx-spoiler="why">s</span></p><ol start="2"><li>x</li></ol><pre><code class="language-ts">x</code></pre><img src="mxc://example.org/abc" alt="pic">';
    assert.equal(sanitizeMatrixHtml(html), html.replace('<img src="mxc://example.org/abc" alt="pic">', '<img src="mxc://example.org/abc" alt="pic">'));
  });
  it("strips active content", () => {
    assert.equal(sanitizeMatrixHtml("<script>alert(1)</script><style>*{}</style><iframe src=x>y</iframe>ok"), "ok");
    assert.equal(sanitizeMatrixHtml('<img src=x onerror="alert(1)">'), "");
    assert.equal(sanitizeMatrixHtml('<img src="https://evil.example/p.png" alt="a">'), "a");
    assert.equal(sanitizeMatrixHtml('<b onclick="x()" style="color:red" class="c">b</b>'), "<b>b</b>");
    assert.equal(sanitizeMatrixHtml('<a href="javascript:alert(1)">j</a><a href=" JaVa\tScRiPt:alert(1)">k</a><a href="data:text/html,x">d</a>'), "jkd");
    assert.equal(sanitizeMatrixHtml('<span data-mx-color="red;x" title="t">s</span><code class="evil">c</code>'), "s<code>c</code>");
    assert.equal(sanitizeMatrixHtml("<!-- c --><!DOCTYPE html><svg><script>x</script></svg>&lt;b&gt;"), "&lt;b&gt;");
    assert.equal(sanitizeMatrixHtml("<mx-reply>spoofed</mx-reply>text"), "text");
  });
  it("survives malformed HTML", () => {
    assert.equal(sanitizeMatrixHtml("<b>a<i>b</b>c"), "<b>a<i>b</i></b>c");
    assert.equal(sanitizeMatrixHtml("<constructor>a</constructor><toString x=1>b</toString><__proto__>"), "ab&lt;__proto__&gt;");
    assert.equal(sanitizeMatrixHtml('<a href="https://x.example/"'), "");
    assert.ok(isInert(sanitizeMatrixHtml('<<script>script>alert(1)<</script>/script><img src="x" """ onerror=alert(1)>')));
  });
});

describe("xhtmlImToHtml", () => {
  it("maps XEP-0071 styles and tags to Matrix HTML", () => {
    const xhtml = "<body xmlns='http://www.w3.org/1999/xhtml'><p>Hi <span style='font-weight: bold; color: #00ff00'>there</span><br/><span style='font-style:italic;text-decoration:underline line-through'>x</span> <cite>c</cite></p></body>";
    assert.equal(
      xhtmlImToHtml(xhtml),
      '<p>Hi <strong><font color="#00ff00" data-mx-color="#00ff00">there</font></strong><br><em><u><del>x</del></u></em> <em>c</em></p>',
    );
  });
  it("links web images, since Matrix shows only mxc: ones", () => {
    assert.equal(xhtmlImToHtml("<img src='https://example.org/a.png' alt='a cat'/>"), '<a href="https://example.org/a.png">a cat</a>');
    assert.equal(xhtmlImToHtml("<img src='javascript:x' alt='a'/>"), "a");
  });
  it("strips active content", () => {
    const out = xhtmlImToHtml("<p onclick='x()'><script>alert(1)</script><a href='javascript:x'>j</a><span style='background:url(javascript:x)'>s</span></p>");
    assert.equal(out, "<p>js</p>");
  });
});

describe("stripMatrixReplyFallback", () => {
  it("strips both fallbacks", () => {
    const content = {
      body: "> <@alice:example.org> original\n> second line\n\nthe reply\n> not a fallback",
      formatted_body: '<mx-reply><blockquote><a href="https://matrix.to/#/!r:x/$e">In reply to</a> <b>x</b></blockquote></mx-reply><p>the <b>reply</b></p>',
    };
    assert.deepEqual(stripMatrixReplyFallback(content), { body: "the reply\n> not a fallback", formatted_body: "<p>the <b>reply</b></p>" });
  });
  it("leaves messages without a fallback alone", () => {
    assert.deepEqual(stripMatrixReplyFallback({ body: "> a quote\n\nmine" }), { body: "> a quote\n\nmine" });
    assert.deepEqual(stripMatrixReplyFallback({ body: "> <@a:b> only a quote" }), { body: "> <@a:b> only a quote" });
    assert.deepEqual(stripMatrixReplyFallback({ body: "x", formatted_body: "<b>x</b>" }), { body: "x", formatted_body: "<b>x</b>" });
  });
  it("strips an emote's fallback", () => {
    assert.equal(stripMatrixReplyFallback({ body: "> * <@a:b> waves\n\nhi" }).body, "hi");
  });
});

describe("hostile input", () => {
  const depth = 10_000;
  it("handles 10,000 levels of nesting without overflowing the stack", () => {
    const deep = "<div><b>".repeat(depth) + "x" + "</b></div>".repeat(depth);
    const sanitized = sanitizeMatrixHtml(deep);
    assert.ok(sanitized.includes("x"));
    assert.ok(elements(sanitized).length <= 100);
    assert.ok(htmlToStyledText(deep).includes("x"));
    assert.ok(xhtmlImToHtml("<span style='font-weight:bold'>".repeat(depth) + "x").includes("x"));
    assert.ok(styledTextToHtml(">".repeat(depth) + " x")?.includes("x"));
    assert.ok(htmlToStyledText("<blockquote>".repeat(depth) + "x").endsWith(" x"));
    const unclosed = stripMatrixReplyFallback({ body: "x", formatted_body: "<mx-reply>" + "<p>".repeat(depth) + "y" });
    assert.equal(unclosed.formatted_body, "");
  });
  // How fast they are on such inputs is measured by npm run bench (bench/conversions.ts), not here.
  it("converts 1 MB inputs whole", () => {
    const styled = "*bold* _em_ ~s~ `c` <&> 👩🏽‍💻\n> quote\n".repeat(25_000);
    const html = "<p><b>bold</b> <a href='https://e.example/'>l</a> &amp; <span data-mx-spoiler>s</span></p>".repeat(12_000);
    assert.equal(styledTextToHtml(styled)?.split("<strong>bold</strong>").length, 25_001);
    assert.equal(styledTextToHtml(" *a".repeat(350_000)), undefined); // many openers, no closer
    assert.equal(htmlToStyledText(html).split("*bold*").length, 12_001);
    assert.equal(sanitizeMatrixHtml(html).split("<b>bold</b>").length, 12_001);
    assert.ok(xhtmlImToHtml(html).includes("bold"));
  });
  it("passes emoji with skin tones and ZWJ sequences through unchanged", () => {
    const emoji = "👩🏽‍💻 👨‍👩‍👧 🏳️‍🌈 🇩🇪";
    assert.equal(htmlToStyledText(emoji), emoji);
    assert.equal(sanitizeMatrixHtml(emoji), emoji);
    assert.equal(xhtmlImToHtml(emoji), emoji);
    assert.equal(styledTextToHtml(`*${emoji}*`), `<strong>${emoji}</strong>`);
    assert.equal(styledTextToHtml(emoji), undefined);
  });
});

describe("properties", () => {
  const styledChars = fc.constantFrom("*", "_", "~", "`", ">", " ", "\n", "a", "<", "&", '"', "=", "on", "script", "👩🏽‍💻");
  const htmlChars = fc.constantFrom("<", ">", "/", "b", "a", "p", "li", "ul", "script", " ", '"', "=", "href", "onerror", "javascript:", "&amp;", "mx-reply", "pre", "\n", "x");
  const texts = fc.oneof(fc.string({ unit: "grapheme" }), fc.string({ unit: styledChars }));
  const htmls = fc.oneof(fc.string({ unit: "grapheme" }), fc.string({ unit: htmlChars }));
  it("styledTextToHtml never throws and never makes active content", () => {
    fc.assert(fc.property(texts, (text) => {
      const html = styledTextToHtml(text);
      assert.ok(html === undefined || (isInert(html) && elements(html).every((e) => e.name !== "script")));
    }));
  });
  it("htmlToStyledText never throws", () => {
    fc.assert(fc.property(htmls, (html) => void htmlToStyledText(html)));
  });
  it("sanitizeMatrixHtml and xhtmlImToHtml output is inert", () => {
    fc.assert(fc.property(htmls, (html) => isInert(sanitizeMatrixHtml(html)) && isInert(xhtmlImToHtml(html))));
  });
  it("styled text with balanced spans round trips", () => {
    const word = fc.string({ unit: fc.constantFrom("a", "b", "é", "👨‍👩‍👧"), minLength: 1, maxLength: 5 });
    const span = fc.tuple(fc.constantFrom("", "*", "_", "~", "`"), word).map(([d, w]) => d + w + d);
    fc.assert(fc.property(fc.array(span, { minLength: 1, maxLength: 6 }), (spans) => {
      const text = spans.join(" ");
      const html = styledTextToHtml(text);
      return html === undefined || htmlToStyledText(html) === text;
    }));
  });
});
