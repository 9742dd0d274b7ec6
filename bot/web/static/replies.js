// The command layer's replies, made readable in this page: its few emoji get words
// (Chromium without an emoji font shows empty boxes), and a block aligned with spaces
// (the help table) keeps its columns in a monospace block.

import {h} from "./dom.js";
import {renderMarkdown} from "./markdown.js";

const WORDS = [
  [/👍/gu, "(good)"], [/👎/gu, "(bad)"], [/🔁/gu, "(regenerate)"], [/✏️?/gu, "(edit)"],
  [/⚠️?\s*/gu, "Warning: "], [/✅\s*/gu, ""], [/❌\s*/gu, "Failed: "],
];

export function readable(text) {
  // An opening or closing emoji is decoration ("Saved your edit … ✏️"); elsewhere it means something.
  let out = String(text ?? "").replace(/\s*(?:✏️?|✅)\s*$/u, "")
    .replace(/^(?:(?!⚠)\p{Extended_Pictographic}\uFE0F?\s*)+/u, "");
  for (const [pattern, word] of WORDS) out = out.replace(pattern, word);
  return out;
}

const ALIGNED = /\S {2,}\S/;

export function renderReply(text) {
  const root = document.createDocumentFragment();
  for (const block of readable(text).split(/\n[ \t]*\n/)) {
    const lines = block.split("\n");
    if (lines.filter((line) => ALIGNED.test(line)).length >= 2) {
      root.append(h("pre", {class: "aligned"}, block));
    } else {
      root.append(renderMarkdown(block));
    }
  }
  return root;
}
