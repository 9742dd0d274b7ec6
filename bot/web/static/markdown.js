// A small Markdown renderer for drafts and replies. It never parses HTML: every piece of
// text goes into the page through textContent, elements are made with createElement, raw
// HTML in the source stays visible as text, and links are made only for http(s) targets
// (with rel="noopener noreferrer"). Supported: paragraphs, line breaks, # headings, - and
// 1. lists, > quotes, ``` code blocks, `code`, **bold**, *italic*, [text](url), <url> and
// bare http(s) links, --- rules.

import {h, httpUrl} from "./dom.js";

const FENCE = /^\s*(```|~~~)/;
const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^\s*([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^\s*>\s?/;
const BULLET = /^\s*[-*+]\s+/;
const NUMBERED = /^\s*(\d{1,3})[.)]\s+/;

export function renderMarkdown(text) {
  const root = document.createDocumentFragment();
  const lines = String(text ?? "").replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i++;
    } else if (FENCE.test(line)) {
      const fence = FENCE.exec(line)[1];
      const body = [];
      for (i++; i < lines.length && !lines[i].trim().startsWith(fence); i++) body.push(lines[i]);
      i++;
      root.append(h("pre", {}, h("code", {}, body.join("\n"))));
    } else if (HEADING.test(line)) {
      const [, marks, title] = HEADING.exec(line);
      root.append(inline(h(`h${Math.min(6, marks.length + 2)}`), title));
      i++;
    } else if (RULE.test(line)) {
      root.append(h("hr"));
      i++;
    } else if (QUOTE.test(line)) {
      const body = [];
      for (; i < lines.length && QUOTE.test(lines[i]); i++) body.push(lines[i].replace(QUOTE, ""));
      root.append(h("blockquote", {}, renderMarkdown(body.join("\n"))));
    } else if (BULLET.test(line) || NUMBERED.test(line)) {
      i = list(lines, i, root);
    } else {
      const body = [];
      for (; i < lines.length && lines[i].trim() && !startsBlock(lines[i]); i++) body.push(lines[i]);
      root.append(paragraph(body));
    }
  }
  return root;
}

function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) ||
    BULLET.test(line) || NUMBERED.test(line);
}

function list(lines, start, root) {
  const ordered = NUMBERED.test(lines[start]) && !BULLET.test(lines[start]);
  const marker = ordered ? NUMBERED : BULLET;
  const items = [];
  let i = start;
  for (; i < lines.length; i++) {
    const line = lines[i];
    if (marker.test(line)) items.push([line.replace(marker, "")]);
    else if (line.trim() && /^\s{2,}/.test(line)) items[items.length - 1].push(line.trim());
    else break;
  }
  const el = h(ordered ? "ol" : "ul", {}, items.map((item) => paragraphInto(h("li"), item)));
  if (ordered) el.start = Number(NUMBERED.exec(lines[start])[1]);
  root.append(el);
  return i;
}

function paragraph(lines) {
  return paragraphInto(h("p"), lines);
}

function paragraphInto(el, lines) {
  lines.forEach((line, n) => {
    if (n) el.append(h("br"));
    inline(el, line.trim());
  });
  return el;
}

// Inline spans, earliest match first; the text between matches is plain text.
const INLINE = new RegExp([
  /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/.source, // 1,2 code
  /\*\*(\S(?:[\s\S]*?\S)?)\*\*/.source, // 3 bold
  /__(\S(?:[\s\S]*?\S)?)__/.source, // 4 bold
  /\*(\S(?:[^*]*?\S)?)\*/.source, // 5 italic
  /(?<![\p{L}\p{N}_])_(\S(?:[^_]*?\S)?)_(?![\p{L}\p{N}_])/.source, // 6 italic
  /\[([^\]\n]+)\]\(\s*<?([^\s)>]+)>?(?:\s+"[^"]*")?\s*\)/.source, // 7,8 link
  /<((?:https?|ftp|javascript|data|vbscript|file):[^\s<>]+)>/.source, // 9 autolink
  /(https?:\/\/[^\s<>"'`]*[^\s<>"'`.,;:!?)\]}])/.source, // 10 bare link
].join("|"), "giu");

export function inline(el, text) {
  let last = 0;
  const spans = new RegExp(INLINE); // its own lastIndex: bold and italic recurse
  for (let match; (match = spans.exec(text));) {
    if (match.index > last) el.append(text.slice(last, match.index));
    last = match.index + match[0].length;
    const [, , code, bold, bold2, italic, italic2, label, target, auto, bare] = match;
    if (code !== undefined) el.append(h("code", {}, code));
    else if (bold !== undefined || bold2 !== undefined) el.append(inline(h("strong"), bold ?? bold2));
    else if (italic !== undefined || italic2 !== undefined) el.append(inline(h("em"), italic ?? italic2));
    else if (label !== undefined) el.append(link(target, label));
    else el.append(link(auto ?? bare, null));
  }
  if (last < text.length) el.append(text.slice(last));
  return el;
}

function link(target, label) {
  const href = /^https?:\/\//i.test(target) ? httpUrl(target) : null;
  if (!href) {
    // Not a web link (javascript:, data:, a relative path…): its words only, no link.
    return h("span", {class: "link-refused", title: "not an http(s) link"}, label ?? target);
  }
  // The label is plain text: no links inside links.
  return h("a", {href, target: "_blank", rel: "noopener noreferrer"}, label ?? target);
}
