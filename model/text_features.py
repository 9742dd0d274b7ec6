"""Surface features of writing, pure Python (no model, no tokenizer): the one place that
says what a word, a sentence, a paragraph, an emoji, a hashtag and a link are.

The style profile (`model/style.py`) and the evaluation's stylometry
(`training/stylometry.py`) both count with these.

Words are runs of letters and digits (an apostrophe inside keeps "don't" one word; "#AI"
is the word "AI" and a hashtag). Sentences end at ., !, ? or … followed by a space, or at
a line break (posts often break lines instead of punctuating). Paragraphs are separated by
blank lines. An emoji is one pictograph with its variation selectors, skin tones and
zero-width-joined parts, a flag pair or a keycap, so "👩‍💻" counts once. A link is an
http(s) URL or a bare www. address.

`prose` keeps what a person reads as sentences: fenced code blocks, `inline code`, URLs,
HTML tags, Markdown headings and table rows are left out, a Markdown link keeps its text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_HASHTAG = re.compile(r"(?<![\w#&/])#\w*[^\W\d_]\w*")
_LINK = re.compile(r"\bhttps?://[^\s<>\"')\]]+|\bwww\.[^\s<>\"')\]]+\.[a-z]{2,}[^\s<>\"')\]]*")
_PICTOGRAPH = (
    "[\u231a\u231b\u23e9-\u23fa\u24c2\u25aa\u25ab\u25b6\u25c0\u25fb-\u25fe\u2600-\u27bf"
    "\u2934\u2935\u2b05-\u2b07\u2b1b\u2b1c\u2b50\u2b55\u3030\u303d\u3297\u3299"
    "\U0001f000-\U0001f1e5\U0001f200-\U0001faff]"
)
_MODIFIER = "[\ufe0f\U0001f3fb-\U0001f3ff]"
_EMOJI = re.compile(
    "[\U0001f1e6-\U0001f1ff]{2}"  # a flag: two regional indicators
    "|[0-9#*]\ufe0f?\u20e3"  # a keycap
    f"|{_PICTOGRAPH}{_MODIFIER}*(?:\u200d{_PICTOGRAPH}{_MODIFIER}*)*"
)
_FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[^\n]*$", re.MULTILINE | re.DOTALL)
_OPEN_FENCE = re.compile(r"^[ \t]*(```|~~~).*\Z", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_MARKDOWN_LINK = re.compile(r"!?\[([^\]\n]*)\]\([^)\s]*(?:\s+\"[^\"]*\")?\)")
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>\n]*>")
_NOT_PROSE_LINE = re.compile(r"^[ \t]*(?:#{1,6}[ \t]|\|).*$", re.MULTILINE)

# The owner speaking of themselves (lower-cased word forms).
FIRST_PERSON = frozenset(
    {"i", "me", "my", "mine", "myself", "i'm", "i've", "i'd", "i'll", "i’m", "i’ve", "i’d", "i’ll"}
)


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def sentences(text: str) -> list[str]:
    """The sentences of `text` that hold at least one word."""
    return [s.strip() for s in _SENTENCE_END.split(text) if _WORD.search(s)]


def paragraphs(text: str) -> list[str]:
    """The paragraphs of `text` (blank-line separated) that hold at least one word."""
    return [p.strip() for p in _PARAGRAPH_BREAK.split(text) if _WORD.search(p)]


def emoji(text: str) -> list[str]:
    return _EMOJI.findall(text)


def hashtags(text: str) -> list[str]:
    return _HASHTAG.findall(text)


def links(text: str) -> list[str]:
    return _LINK.findall(_FENCE.sub("", text))


def vocabulary(texts: Iterable[str]) -> frozenset[str]:
    """The lower-cased word types used across `texts`."""
    return frozenset(w.casefold() for text in texts for w in words(text))


def prose(text: str) -> str:
    """`text` without what is not prose: code, URLs, HTML tags, Markdown headings and tables; a
    Markdown link keeps its text, an image its alt text."""
    text = _FENCE.sub("", text.replace("\r\n", "\n"))
    text = _OPEN_FENCE.sub("", text)  # a fence never closed runs to the end
    text = _MARKDOWN_LINK.sub(r"\1", text)
    text = _INLINE_CODE.sub("", text)
    text = _HTML_TAG.sub("", text)
    text = _LINK.sub("", text)
    return _NOT_PROSE_LINE.sub("", text)
