"""The replies' light Markdown as Slack mrkdwn, and long text cut within Slack's limits.

Replies use `**bold**`, `- ` lists and links written `title <url>`; drafts are model output
and may carry a little more Markdown (`*italic*`, `[text](url)`, `# headings`,
`~~strike~~`). Slack wants `*bold*`, `_italic_`, `<url|text>`, and `&`, `<`, `>` escaped
everywhere else (inside code too). Code spans and fences are kept as they are, escaped.
"""

from __future__ import annotations

import re

_FENCE_OR_CODE = re.compile(r"```.*?```|`[^`\n]+`", re.S)
# A list item that is `title <url>` (the footer's sources, search hits): a titled link.
_TITLED_LINK = re.compile(
    r"^(?P<lead>[ \t]*(?:[-*•]|\d+\.)[ \t]+)(?P<title>[^<>\n\ue000]*?\S)[ \t]+"
    r"<(?P<url>[a-zA-Z][\w+.-]*:[^\s<>|]+)>[ \t]*$",
    re.M,
)
_BARE_LINK = re.compile(r"<(?P<url>[a-zA-Z][\w+.-]*:[^\s<>|]+)>")
_MD_LINK = re.compile(r"\[(?P<title>[^\]\n]+)\]\((?P<url>[a-zA-Z][\w+.-]*:[^\s()<>]+)\)")
_EMPHASIS = re.compile(
    r"\*\*(?P<bold>[^\n]+?)\*\*"
    r"|__(?P<bold2>[^\n]+?)__"
    r"|(?<![*\w])\*(?P<italic>[^*\s](?:[^*\n]*?[^*\s])?)\*(?![*\w])"
    r"|~~(?P<strike>[^~\n]+?)~~"
)
_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t]+(?P<text>.+?)[ \t]*#*[ \t]*$", re.M)
_BULLET = re.compile(r"^(?P<indent>[ \t]*)[-*][ \t]+", re.M)
# Placeholders for finished links while the rest is escaped (private-use characters).
_HOLD = "\ue000{}\ue001"
_HELD = re.compile("\ue000(\\d+)\ue001")


def escape(text: str) -> str:
    """Slack's three control characters, as its docs ask."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(text: str) -> str:
    """Light Markdown -> Slack mrkdwn (see the module docstring)."""
    out: list[str] = []
    last = 0
    for code in _FENCE_OR_CODE.finditer(text):
        out.append(_prose(text[last : code.start()]))
        out.append(escape(code.group(0)))
        last = code.end()
    out.append(_prose(text[last:]))
    return "".join(out)


def _prose(text: str) -> str:
    links: list[str] = []

    def hold(url: str, title: str | None) -> str:
        target = escape(url).replace("|", "%7C")
        links.append(f"<{target}|{_inline(title)}>" if title else f"<{target}>")
        return _HOLD.format(len(links) - 1)

    text = _TITLED_LINK.sub(lambda m: m["lead"] + hold(m["url"], m["title"]), text)
    text = _MD_LINK.sub(lambda m: hold(m["url"], m["title"]), text)
    text = _BARE_LINK.sub(lambda m: hold(m["url"], None), text)
    text = _HEADING.sub(lambda m: f"**{m['text']}**", text)
    text = _BULLET.sub(lambda m: f"{m['indent']}• ", text)
    return _HELD.sub(lambda m: links[int(m[1])], _inline(text))


def _inline(text: str) -> str:
    """Escape, then emphasis (its markers survive escaping unchanged)."""

    def emphasis(m: re.Match[str]) -> str:
        if (bold := m["bold"] or m["bold2"]) is not None:
            return f"*{bold}*"
        if m["italic"] is not None:
            return f"_{m['italic']}_"
        return f"~{m['strike']}~"

    return _EMPHASIS.sub(emphasis, escape(text))


def split_text(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` characters that join back to exactly `text`.

    Cuts at the last paragraph break, else line break, else space before the limit, and
    never inside a `<link>` or an `&entity;` (a hard cut only when nothing else fits)."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = _cut_point(rest, limit)
        pieces.append(rest[:cut])
        rest = rest[cut:]
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def _cut_point(text: str, limit: int) -> int:
    window = text[:limit]
    for sep, floor in (("\n\n", limit // 2), ("\n", limit // 2), (" ", 0)):
        at = window.rfind(sep)
        while at > floor:
            if _safe(text, at + len(sep)):
                return at + len(sep)
            at = window.rfind(sep, 0, at)
    cut = limit
    while cut > 1 and not _safe(text, cut):
        cut -= 1
    return cut if _safe(text, cut) else limit


def _safe(text: str, cut: int) -> bool:
    """Whether cutting before `text[cut]` splits no `<...>` link and no `&...;` entity."""
    head = text[:cut]
    opening, closing = head.rfind("<"), head.rfind(">")
    if opening > closing and ">" in text[cut:]:
        return False
    amp = head.rfind("&")
    return not (amp != -1 and ";" not in head[amp:] and len(head) - amp < 6)


_SLACK_LINK = re.compile(r"<(?P<url>(?:https?|mailto|file):[^|>\s]+)(?:\|(?P<label>[^>]*))?>")


def from_mrkdwn(text: str) -> str:
    """What a person typed, from the text Slack sends: links unwrapped (`<url|label>`
    becomes `label (url)`, or just the url where the label is the url), `&amp;` and
    friends unescaped. Mentions (`<@U…>`) are left for the caller."""

    def link(m: re.Match[str]) -> str:
        url, label = m["url"], m["label"]
        if not label or label in (url, url.split("://", 1)[-1], url.removeprefix("mailto:")):
            return url
        return f"{label} ({url})"

    text = _SLACK_LINK.sub(link, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
