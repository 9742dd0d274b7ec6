"""Telegram text: the light Markdown of replies as Telegram HTML, and splitting long text
into messages Telegram accepts.

Replies use `**bold**`, `- ` lists, `# ` headings and links written `title <url>`; every
other character is escaped, so a model's stray `<` or `&` cannot break the message.
"""

from __future__ import annotations

import html
import re

# Telegram's limit for one message's text, counted after entity parsing.
MESSAGE_LIMIT = 4096
_SEPARATORS = ("\n\n", "\n", " ")

_URL_IN_ANGLES = re.compile(r"<(https?://[^\s<>]+)>")
_TITLED_LINK = re.compile(r"(?P<title>\S.*?)\s*<(?P<url>https?://[^\s<>]+)>\s*")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_BULLET = re.compile(r"(?P<indent>\s*)[-*•]\s+(?P<rest>.*)")
_NUMBERED = re.compile(r"(?P<lead>\s*\d{1,3}[.)]\s+)(?P<rest>.*)")
_HEADING = re.compile(r"#{1,6}\s+(?P<rest>.*)")


def text_size(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units): an emoji counts two."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """`text` as messages of at most `limit`, split at paragraphs, else lines, else words,
    else anywhere; only the whitespace at a split is dropped, never any text."""
    if limit < 2:
        raise ValueError("limit must be at least 2 (a character may take two units)")
    parts = (part.strip() for part in _pack(text.strip(), limit, _SEPARATORS))
    return [part for part in parts if part]


def _pack(text: str, limit: int, separators: tuple[str, ...]) -> list[str]:
    if text_size(text) <= limit:
        return [text]
    if not separators:
        return _cut(text, limit)
    separator, finer = separators[0], separators[1:]
    parts: list[str] = []
    current = ""
    for piece in text.split(separator):
        for small in _pack(piece, limit, finer):
            joined = f"{current}{separator}{small}" if current else small
            if text_size(joined) <= limit:
                current = joined
                continue
            if current:
                parts.append(current)
            current = small
    if current:
        parts.append(current)
    return parts


def _cut(text: str, limit: int) -> list[str]:
    """A word longer than a message: cut by size, never inside a character."""
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for char in text:
        width = text_size(char)
        if size + width > limit:
            parts.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += width
    if current:
        parts.append("".join(current))
    return parts


def to_html(text: str) -> str:
    """Light Markdown as Telegram HTML (parse_mode="HTML")."""
    return "\n".join(_line(line) for line in text.split("\n"))


def _line(line: str) -> str:
    if heading := _HEADING.fullmatch(line):
        return f"<b>{_escape(heading['rest'].replace('**', ''))}</b>"
    lead = ""
    if bullet := _BULLET.fullmatch(line):
        lead, line = f"{bullet['indent']}• ", bullet["rest"]
    elif numbered := _NUMBERED.fullmatch(line):
        lead, line = numbered["lead"], numbered["rest"]
    if (titled := _TITLED_LINK.fullmatch(line)) and not _URL_IN_ANGLES.search(titled["title"]):
        return f"{_escape(lead)}{_link(titled['url'], _inline(titled['title']))}"
    return _escape(lead) + _links(line)


def _links(text: str) -> str:
    """Bare `<url>`s in running text: links showing the URL."""
    out: list[str] = []
    position = 0
    for match in _URL_IN_ANGLES.finditer(text):
        out.append(_inline(text[position : match.start()]))
        out.append(_link(match[1], _escape(match[1])))
        position = match.end()
    out.append(_inline(text[position:]))
    return "".join(out)


def _inline(text: str) -> str:
    out: list[str] = []
    position = 0
    for match in _BOLD.finditer(text):
        out.append(_escape(text[position : match.start()]))
        out.append(f"<b>{_escape(match[1])}</b>")
        position = match.end()
    out.append(_escape(text[position:]))
    return "".join(out)


def _link(url: str, label: str) -> str:
    return f'<a href="{html.escape(url, quote=True)}">{label}</a>'


def _escape(text: str) -> str:
    return html.escape(text, quote=False)
