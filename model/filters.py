"""Search filters read off a drafting prompt, where the prompt makes them obvious.

"Write a LinkedIn post" names the *format*, not where to look, so a platform counts only
when the prompt points at the owner's writing there ("my Medium posts", "what I wrote on
Substack"). Dates count only next to the owner's writing too ("my posts from 2023",
"what I wrote last year"), never a topic ("AI trends in 2023"). When a filtered search
finds nothing, the draft writer searches again without filters.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from retrieval.types import SearchFilters

PLATFORMS = {
    "medium": "medium",
    "substack": "substack",
    "linkedin": "linkedin",
    "github": "github",
    "twitter": "x",
    "x": "x",
    "blog": "web",
}
_PLATFORM = "|".join(sorted(PLATFORMS, key=len, reverse=True))
_WRITING = r"(?:posts?|articles?|writing|pieces?|newsletters?|essays?|threads?|tweets?|repos?)"
_MINE = re.compile(
    rf"\b(?:(?:my|our)\s+(?:(?:old|older|earlier|recent|past|previous)\s+)?"
    rf"(?:(?P<p1>{_PLATFORM})\s+)?{_WRITING}"
    rf"(?:\s+(?:on|in|from|at)\s+(?P<p2>{_PLATFORM})\b)?"
    rf"|I\s+(?:have\s+|'ve\s+)?(?:wrote|written|posted|published|shared)"
    rf"(?:\s+(?:on|in|to|at)\s+(?P<p3>{_PLATFORM})\b)?)",
    re.IGNORECASE,
)
_YEAR = re.compile(
    r"^\W*(?:\w+\W+){0,4}?(?P<op>in|from|during|since|after|before)\s+(?P<year>(?:19|20)\d\d)\b",
    re.I,
)
_RELATIVE = re.compile(
    r"\b(?:(?P<this>this|last)\s+(?P<unit>year|month|week)"
    r"|(?:in\s+)?(?:the\s+)?(?:last|past)\s+(?P<n>\d{1,3})\s+(?P<units>years|months|weeks|days))\b",
    re.I,
)
_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
_DATE_REACH = 40  # characters after "my posts" / "I wrote" in which a date is read


def infer_filters(prompt: str, *, now: datetime | None = None) -> SearchFilters:
    """Platforms and a date window the prompt asks for, or empty filters."""
    mine = list(_MINE.finditer(prompt))
    if not mine:
        return SearchFilters()
    now = now or datetime.now(UTC)
    platforms: list[str] = []
    for match in mine:
        for group in ("p1", "p2", "p3"):
            name = match.group(group)
            if name and PLATFORMS[name.lower()] not in platforms:
                platforms.append(PLATFORMS[name.lower()])
    # A date counts only right after the words about the owner's writing: "my posts
    # from 2023", not "my posts on the 2020 election".
    after = before = None
    for match in mine:
        after, before = _window(prompt[match.end() : match.end() + _DATE_REACH], now)
        if after or before:
            break
    return SearchFilters(platforms=tuple(platforms), published_after=after, published_before=before)


def _window(prompt: str, now: datetime) -> tuple[datetime | None, datetime | None]:
    year = _YEAR.search(prompt)
    if year:
        start = datetime(int(year["year"]), 1, 1, tzinfo=UTC)
        end = datetime(int(year["year"]) + 1, 1, 1, tzinfo=UTC)
        op = year["op"].lower()
        if op in ("since", "after"):
            return (start if op == "since" else end), None
        if op == "before":
            return None, start
        return start, end
    relative = _RELATIVE.search(prompt)
    if not relative:
        return None, None
    if relative["unit"]:
        unit = relative["unit"].lower()
        if relative["this"].lower() == "this":
            return _start_of(unit, now), None
        return now - timedelta(days=_DAYS[unit]), None
    days = int(relative["n"]) * _DAYS[relative["units"].lower().rstrip("s")]
    return now - timedelta(days=days), None


def _start_of(unit: str, now: datetime) -> datetime:
    if unit == "year":
        return datetime(now.year, 1, 1, tzinfo=UTC)
    if unit == "month":
        return datetime(now.year, now.month, 1, tzinfo=UTC)
    return (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
