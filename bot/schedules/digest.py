"""What a digest post says: the documents stored in a period, listed, and the prompt for
the one suggested draft that goes with it.

`build_digest` turns a period's documents into a `Digest` (None for an empty period, which
posts nothing); `gather_digest` reads the period from the warehouse first. Posting and
scheduling are the caller's; the suggested draft goes through the normal `DraftWriter`
with `Digest.draft_prompt()`, so it is recorded and gets the feedback buttons.

Three sections, in this order, each newest first (by when the piece was written, else when
it was stored):
- the owner's writing: `owned` True, or None (the owner added it and its source did not
  say it is someone else's);
- others' writing the owner saved (`owned=False`: reposts, guest posts, quotes);
- source code (`meta["kind"] == "code"`: GitHub files), listed without a summary, since a
  file's first line says little.
All three are listed, owner's writing first so that a large crawl of code or others' posts
cannot crowd it out; only the owner's writing drives the suggested draft (the draft is in
the owner's voice about what they wrote, as training keeps to their writing too).

`Digest.text()` is the replies' light Markdown (see bot/chat/replies.py): `**bold**`
section names and `- title <url>` items, which the Slack and Telegram adapters turn into
links; the one-line summary sits on the line below, stripped of Markdown so that no cut
can leave a marker open.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa

from ingest.document import post_title
from ingest.warehouse.schema import StoredDocument, as_utc
from ingest.warehouse.schema import documents as documents_table
from ingest.warehouse.store import Warehouse

__all__ = [
    "SECTIONS",
    "Digest",
    "DigestItem",
    "Section",
    "build_digest",
    "gather_digest",
    "summarize",
]

Section = Literal["own", "others", "code"]
SECTIONS: dict[Section, str] = {
    "own": "Your writing",
    "others": "Saved from others",
    "code": "Code",
}
SUMMARY_CHARS = 160
TITLE_CHARS = 120
DRAFT_TITLES = 3  # how many of the owner's pieces the suggested draft names

_PLATFORM_NAMES = {
    "linkedin": "LinkedIn",
    "medium": "Medium",
    "substack": "Substack",
    "github": "GitHub",
    "x": "X",
    "web": "Web",
    "local": "Local file",
}
_FORMAT_NAMES = {
    "linkedin": "A LinkedIn post",
    "thread": "An X thread",
    "article": "An article outline",
    "answer": "A short answer",
}
_WEB_URL = re.compile(r"https?://[^\s<>|]+")
_MD_LINK = re.compile(r"!?\[([^\]\n]*)\]\(([^()\s]*)\)")
_ANGLE_URL = re.compile(r"<([a-zA-Z][\w+.-]*:[^\s<>]+)>")
_LINE_MARKER = re.compile(r"^(?:[#>]+|[-*+•]|\d{1,3}[.)])\s+")
_EMPHASIS = re.compile(r"\*\*|__|~~|`|(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*])")
_SENTENCE_END = re.compile(r"[.!?…](?=\s|$)")
_RULE = re.compile(r"^\s*(?:[-*_]\s*){3,}$")
_QUOTES = str.maketrans({'"': "", "“": "", "”": ""})


@dataclass(frozen=True, slots=True)
class DigestItem:
    title: str
    url: str
    platform: str
    summary: str  # one line, plain text; "" for code and for text that is only its title
    section: Section
    created_at: datetime
    published_at: datetime | None = None

    @property
    def line(self) -> str:
        """The item as a list entry: a titled link where the url is a web page (a local
        file's `file://` url would be no use to anyone reading the channel)."""
        if _WEB_URL.fullmatch(self.url):
            return f"- {self.title} <{self.url}>"
        return f"- {self.title}"

    @property
    def detail(self) -> str:
        platform = _PLATFORM_NAMES.get(self.platform, self.platform.capitalize())
        return f"  {platform} · {self.summary}" if self.summary else f"  {platform}"


@dataclass(frozen=True, slots=True)
class Digest:
    items: tuple[DigestItem, ...]  # the listed ones, in section order
    total: int  # documents in the period, listed or not
    after: datetime | None = None  # the period, when the caller gave it
    until: datetime | None = None
    # The owner's pieces the suggested draft draws on (they may outnumber those listed).
    draft_titles: tuple[str, ...] = ()

    @property
    def more(self) -> int:
        """How many documents of the period are not listed."""
        return self.total - len(self.items)

    def text(self) -> str:
        noun = "document" if self.total == 1 else "documents"
        head = f"**Digest**: {self.total} new {noun}"
        if self.after is not None:
            head += f" since {as_utc(self.after):%Y-%m-%d %H:%M} UTC"
        lines = [head]
        for section, name in SECTIONS.items():
            items = [item for item in self.items if item.section == section]
            if not items:
                continue
            lines += ["", f"**{name}**"]
            for item in items:
                lines += [item.line, item.detail]
        if self.more:
            lines += ["", f"…and {self.more} more."]
        return "\n".join(lines)

    def draft_prompt(self, format: str = "linkedin") -> str | None:
        """The prompt for the suggested draft, or None when the period holds none of the
        owner's own writing (only code or others' pieces: nothing to draft from).

        It names titles, not links: the draft writer would fetch links again, and the
        titles are what retrieval needs to find the passages. It also avoids "my posts"
        and "I wrote", which the writer reads as a search filter (model/filters.py)."""
        if not self.draft_titles:
            return None
        what = _FORMAT_NAMES.get(format, f"A {format}")
        titles = [f"“{title.translate(_QUOTES)}”" for title in self.draft_titles]
        named = titles[0] if len(titles) == 1 else f"{', '.join(titles[:-1])} and {titles[-1]}"
        pieces = "this new piece" if len(titles) == 1 else "these new pieces"
        return f"{what} that builds on {pieces} of mine: {named}."


def build_digest(
    documents: Sequence[StoredDocument],
    *,
    max_items: int = 10,
    total: int | None = None,
    after: datetime | None = None,
    until: datetime | None = None,
) -> Digest | None:
    """The digest of `documents` (a period's, in any order), listing at most `max_items`;
    None when there are none. `total` is the number of documents in the period when the
    caller read only some of them (default: `len(documents)`); `after`/`until` name the
    period in the text."""
    if max_items < 1:
        raise ValueError(f"max_items must be at least 1, not {max_items}")
    if not documents:
        return None
    ranked = sorted(documents, key=_rank)
    items = tuple(_item(document) for document in ranked[:max_items])
    own = [_title(document) for document in ranked if _section(document) == "own"]
    count = len(documents) if total is None else max(total, len(documents))
    return Digest(
        items=items,
        total=count,
        after=after,
        until=until,
        draft_titles=tuple(own[:DRAFT_TITLES]),
    )


def gather_digest(
    warehouse: Warehouse,
    after: datetime,
    until: datetime,
    *,
    max_items: int = 10,
    scan: int = 100,
) -> Digest | None:
    """The digest of the documents first stored in (`after`, `until`]: the newest `scan`
    of them are ranked for listing (owner's writing first), the rest only counted."""
    if scan < max_items:
        raise ValueError(f"scan ({scan}) must be at least max_items ({max_items})")
    found = warehouse.documents_created(after, until, limit=scan)
    total = len(found)
    if total == scan:  # there may be more than were read: count them all
        created = documents_table.c.created_at
        query = sa.select(sa.func.count()).where(created > after, created <= until)
        with warehouse.guard("counting documents"), warehouse.engine.connect() as conn:
            total = int(conn.execute(query.select_from(documents_table)).scalar_one())
    return build_digest(found, max_items=max_items, total=total, after=after, until=until)


# --- items --------------------------------------------------------------------------------


def _section(document: StoredDocument) -> Section:
    if document.meta.get("kind") == "code":
        return "code"
    return "others" if document.owned is False else "own"


def _rank(document: StoredDocument) -> tuple[int, float, str]:
    written = document.published_at or document.created_at
    order = list(SECTIONS).index(_section(document))
    return order, -written.timestamp(), document.url


def _item(document: StoredDocument) -> DigestItem:
    section = _section(document)
    title = _title(document)
    return DigestItem(
        title=title,
        url=document.url,
        platform=document.platform,
        summary="" if section == "code" else summarize(document.text, title=title),
        section=section,
        created_at=document.created_at,
        published_at=document.published_at,
    )


def _title(document: StoredDocument) -> str:
    title = _plain(document.title) or _plain(post_title(document.text)) or document.url
    return _cut(title, TITLE_CHARS)


def summarize(text: str, *, title: str = "", limit: int = SUMMARY_CHARS) -> str:
    """One plain line for `text`: its first sentence (else its first line) that is not a
    heading nor the title again, without Markdown, cut at a word to `limit` characters."""
    same_as_title = _plain(title).casefold()
    fenced = False
    for raw in text.splitlines():
        if raw.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced or not raw.strip() or raw.lstrip().startswith("#") or _RULE.match(raw):
            continue
        line = _plain(raw)
        if not line or line.casefold() == same_as_title:
            continue
        end = _SENTENCE_END.search(line)
        sentence = line[: end.end()] if end else line
        return _cut(sentence, limit)
    return ""


def _plain(text: str) -> str:
    """`text` on one line with its Markdown taken out: links keep their text, list and
    quote markers, emphasis and code marks go; `<` and `>` go too, as the adapters read
    `<...>` as a link."""
    text = " ".join(text.split())
    text = _MD_LINK.sub(lambda m: m[1] or m[2], text)
    text = _ANGLE_URL.sub(lambda m: m[1], text)
    text = _LINE_MARKER.sub("", text)
    text = _EMPHASIS.sub("", text)
    return " ".join(text.replace("<", " ").replace(">", " ").split())


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    cut = head.rsplit(" ", 1)[0] if " " in head else head
    return cut.rstrip(" ,;:-–—") + "…"
