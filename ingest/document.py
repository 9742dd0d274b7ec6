"""The `Document`: one piece of the owner's writing, as extracted and cleaned."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime


def parse_date(value: str | None) -> datetime | None:
    """ISO 8601 (date, or date and time) as an aware UTC datetime; naive means UTC."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def document_id(url: str) -> str:
    """A document's identity: derived from its canonical URL, so re-ingesting a link
    finds the same row and a changed page replaces what was stored for it."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]


def content_hash(title: str, text: str) -> str:
    """Hash of what gets embedded; an unchanged hash means there is nothing to redo."""
    return hashlib.sha256(f"{title}\n\n{text}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Document:
    url: str
    platform: str
    title: str
    text: str
    author: str = ""
    published_at: datetime | None = None
    # The input the owner gave that led here (a feed, a profile, a path); equals `url` for
    # a single article.
    source_url: str = ""
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Whose writing this is, as far as the source can tell: True when the source vouches
    # it is its account holder's own (an export, the owner's profile), False when it is
    # someone else's (a repost, a guest post, a quoted post: kept for search, left out of
    # training), None when the source cannot tell (training then goes by `author`).
    owned: bool | None = None
    # Source-specific facts kept with the document, e.g. a GitHub file's path, commit and
    # blob sha (which a recrawl compares to skip unchanged files), a post's URN.
    meta: Mapping[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return document_id(self.url)

    @property
    def content_hash(self) -> str:
        return content_hash(self.title, self.text)


TITLE_CHARS = 80


def post_title(text: str, limit: int = TITLE_CHARS) -> str:
    """A title for a post that has none (a LinkedIn post, a tweet): its first line, cut
    at a word before `limit` characters. One rule for every reader, so a post read live
    and from an export gets one title, hence one content hash."""
    first = next((line.strip() for line in text.split("\n") if line.strip()), "")
    first = first.lstrip("#>-* ").strip() or first
    if len(first) <= limit:
        return first
    cut = first[: limit - 1].rsplit(" ", 1)[0] or first[: limit - 1]
    return cut.rstrip(" ,;:-–—") + "…"
