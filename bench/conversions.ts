/**
 * The core's message conversions on one core, without any I/O: a Matrix message's content to the body
 * of an XMPP message (fromMatrixContent, toXmppBody) and an XMPP message to Matrix content
 * (toMatrixContent), plain and formatted; and the formatting functions on 1 MB inputs.
 */
import { fromMatrixContent, toMatrixContent, toXmppBody, type MatrixText } from "../src/core/messages.js";
import { htmlToStyledText, sanitizeMatrixHtml, styledTextToHtml, xhtmlImToHtml } from "../src/core/formatting.js";
import { median } from "./measure.js";

/** Calls fn(i) for i = 0, 1, 2... for about `ms` after a warm-up; returns calls per second. */
function rate(fn: (i: number) => unknown, ms = 1500): number {
  let sink = 0;
  const run = (until: number) => {
    let n = 0;
    while (performance.now() < until) {
      // Checking the clock every 256 calls keeps its cost out of the figure.
      for (let k = 0; k < 256; k++, n++) sink += fn(n) === undefined ? 0 : 1;
    }
    return n;
  };
  run(performance.now() + 300);
  const start = performance.now();
  const n = run(start + ms);
  const perSecond = (n * 1000) / (performance.now() - start);
  if (sink < 0) console.log(sink); // keeps the results alive
  return perSecond;
}

/** 64 ordinary chat lines of different lengths, so no single string stays hot in a cache. */
const PLAIN = Array.from({ length: 64 }, (_, i) => `message ${i}: ${"see you at the station at ten, ".repeat(1 + (i % 4))}ok?`);
const MATRIX_PLAIN: MatrixText[] = PLAIN.map((body) => ({ msgtype: "m.text", body }));
const MATRIX_FORMATTED: MatrixText[] = PLAIN.map((body, i) => ({
  msgtype: "m.text",
  body: `**${i}** ${body}`,
  html: `<b>${i}</b> ${body} <a href="https://example.org/${i}">link</a> <code>x &lt; ${i}</code>`,
}));
const XMPP_FORMATTED = PLAIN.map((body, i) => `*${i}* ${body} _soon_ \`x < ${i}\``);

export interface ConversionRates {
  /** Conversions per second, each way, of plain messages and of formatted ones. */
  matrixToXmppPlain: number;
  xmppToMatrixPlain: number;
  matrixToXmppFormatted: number;
  xmppToMatrixFormatted: number;
}

export function conversionRates(): ConversionRates {
  const matrixToXmpp = (content: MatrixText) => {
    const message = fromMatrixContent(content);
    return message && toXmppBody(message);
  };
  return {
    matrixToXmppPlain: rate((i) => matrixToXmpp(MATRIX_PLAIN[i & 63]!)),
    xmppToMatrixPlain: rate((i) => toMatrixContent({ body: PLAIN[i & 63]! })),
    matrixToXmppFormatted: rate((i) => matrixToXmpp(MATRIX_FORMATTED[i & 63]!)),
    xmppToMatrixFormatted: rate((i) => toMatrixContent({ body: XMPP_FORMATTED[i & 63]! })),
  };
}

/**
 * Milliseconds each formatting function takes on about 1 MB of input (median of three runs): styled
 * text, styled text with many openers and no closer, and HTML through each HTML function.
 */
export function largeInputTimes(): Record<string, number> {
  const styled = "*bold* _em_ ~s~ `c` <&> 👩🏽‍💻\n> quote\n".repeat(25_000);
  const unclosed = " *a".repeat(350_000);
  const html = "<p><b>bold</b> <a href='https://e.example/'>l</a> &amp; <span data-mx-spoiler>s</span></p>".repeat(12_000);
  const cases: Record<string, () => unknown> = {
    "styledTextToHtml (styled text)": () => styledTextToHtml(styled),
    "styledTextToHtml (openers, no closer)": () => styledTextToHtml(unclosed),
    "htmlToStyledText (HTML)": () => htmlToStyledText(html),
    "sanitizeMatrixHtml (HTML)": () => sanitizeMatrixHtml(html),
    "xhtmlImToHtml (HTML)": () => xhtmlImToHtml(html),
  };
  const times: Record<string, number> = {};
  for (const [name, fn] of Object.entries(cases)) {
    const runs = [0, 1, 2].map(() => {
      const start = performance.now();
      fn();
      return performance.now() - start;
    });
    times[name] = median(runs);
  }
  return times;
}
