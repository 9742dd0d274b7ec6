// Character counts as the platforms count them (the same rules as model/shape.py): X
// counts a link as 23 and a wide character (CJK, emoji) as 2; LinkedIn counts characters.

export const X_MAX_CHARS = 280;
const X_URL_CHARS = 23;
const URL = /https?:\/\/\S+/g;

function narrow(code) {
  return code <= 4351 || (code >= 8192 && code <= 8205) || (code >= 8208 && code <= 8223) ||
    (code >= 8242 && code <= 8247);
}

function weighted(text) {
  let n = 0;
  for (const char of text) n += narrow(char.codePointAt(0)) ? 1 : 2;
  return n;
}

export function xLength(text) {
  let length = 0, last = 0;
  for (const match of text.matchAll(URL)) {
    length += weighted(text.slice(last, match.index)) + X_URL_CHARS;
    last = match.index + match[0].length;
  }
  return length + weighted(text.slice(last));
}

export function chars(text) {
  return [...text].length;
}

// The posts of a finished thread: one per paragraph, as the server numbers them ("1/ …").
export function threadPosts(text) {
  return String(text).split(/\n[ \t]*\n/).map((post) => post.trim()).filter(Boolean);
}
