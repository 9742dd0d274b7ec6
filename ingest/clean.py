"""Cleaning extracted text before it is stored, chunked and embedded.

Prose is normalised (NFC, one space between words, no invisible or control characters,
no leftover share/cookie/navigation lines, at most one blank line in a row); paragraph
breaks stay, because the chunker splits on them. Code is the owner's writing too and
whitespace is its syntax: fenced (``` / ~~~) and indented code blocks pass through verbatim.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["clean_code", "clean_text"]

_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_INDENTED = re.compile(r"^(?: {4}|\t)\s*\S")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s")
# Zero-width space/no-break, word joiner, soft hyphen, Mongolian vowel separator: invisible
# and meaningless in stored text. ZWJ/ZWNJ (U+200D/U+200C) stay: emoji sequences and
# Persian/Indic spelling depend on them.
_INVISIBLE = re.compile("[\u200b\u2060\ufeff\u00ad\u180e]")
# C0/C1 controls except tab and newline (which the line handling deals with).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
# Whole lines that are what extraction leaves behind from sharing widgets, cookie banners
# and navigation; never the owner's sentences (each must match the entire line).
_BOILERPLATE = re.compile(
    r"^(?:"
    r"share(?: this(?: (?:post|article|story))?)?(?: on \w+)?"
    r"|click to (?:share|email|print)\b.*"
    r"|(?:tweet|pin it|print|email|like|reddit|linkedin|facebook|twitter|whatsapp)"
    r"|(?:like|liked) this:?"
    r"|loading\W*"
    r"|advertisement|sponsored(?: content)?"
    r"|skip to (?:main )?content|jump to navigation|back to top|(?:main )?menu|toggle navigation"
    r"|(?:read|see) more|continue reading"
    r"|(?:related|recent|popular) (?:posts|articles|stories)"
    r"|sign up for (?:our|the) newsletter|subscribe(?: to (?:our|the) newsletter)?"
    r"|(?:(?:this|our) (?:web)?site|we) uses? cookies (?:to|so|for)\b.{0,160}"
    r"|(?:accept|reject|manage)(?: all)? cookies|cookie (?:settings|preferences|policy)"
    r"|\[?(?:…|\.\.\.)\]?"
    r"|(?:©|\(c\)|copyright ©?)\s*(?:\d{4}\b)?[^.!?]{0,60}"
    r")\s*[.:!]?$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class _Segment:
    lines: list[str]
    is_code: bool


def clean_text(text: str) -> str:
    """Normalised text with paragraph breaks and code blocks intact; "" if nothing is left."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    out: list[str] = []
    for segment in _segments(text.split("\n")):
        if segment.is_code:
            # Controls are never code, but indentation and blank lines are: keep the rest.
            out.extend(_CONTROL.sub("", line) for line in segment.lines)
            continue
        for line in map(_clean_prose_line, segment.lines):
            if line or (out and out[-1].strip()):  # one blank line between paragraphs
                out.append(line)
    return "\n".join(out).strip("\n")


def _segments(lines: list[str]) -> list[_Segment]:
    """Split lines into prose and code runs (fenced, or indented after a blank line)."""
    segments: list[_Segment] = []
    prose: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE_OPEN.match(line)
        after_blank = not prose or not prose[-1].strip()
        if fence is not None:
            end = _fence_end(lines, i, fence.group(1))
        elif after_blank and _INDENTED.match(line):
            end = _indented_end(lines, i)
        else:
            prose.append(line)
            i += 1
            continue
        if prose:
            segments.append(_Segment(prose, is_code=False))
            prose = []
        segments.append(_Segment(lines[i:end], is_code=True))
        i = end
    if prose:
        segments.append(_Segment(prose, is_code=False))
    return segments


def _fence_end(lines: list[str], start: int, fence: str) -> int:
    """Index after the closing fence: same character, at least as long; an unclosed fence
    runs to the end of the text, as in CommonMark."""
    closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
    for j in range(start + 1, len(lines)):
        if closing.match(lines[j]):
            return j + 1
    return len(lines)


def _indented_end(lines: list[str], start: int) -> int:
    """Index after an indented block; blank lines inside it belong to it, trailing ones not."""
    end = j = start
    while j < len(lines) and (not lines[j].strip() or _INDENTED.match(lines[j])):
        j += 1
        if lines[j - 1].strip():
            end = j
    return end


def _clean_prose_line(line: str) -> str:
    line = _CONTROL.sub("", _INVISIBLE.sub("", line))
    stripped = _SPACES.sub(" ", line).strip()
    if not stripped or _BOILERPLATE.match(stripped):
        return ""
    if _LIST_ITEM.match(line):
        # Nested list items keep their indentation; it is their nesting level.
        indent = len(line) - len(line.lstrip(" \t\u00a0"))
        return " " * indent + stripped
    return stripped


def clean_code(text: str) -> str:
    """A source file as it is: only line endings unified and control characters (other
    than tab and newline) dropped. Indentation, spacing and every line are kept."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
