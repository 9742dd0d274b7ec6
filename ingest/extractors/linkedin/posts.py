"""LinkedIn's links and posts: a profile link's public id, the url a post is stored under,
when a post was made (from its urn), and a Voyager feed element read into a `Document`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from ingest.clean import clean_text
from ingest.document import Document, post_title

__all__ = ["LINKEDIN", "Member", "Post", "dig", "linkedin_post_time", "linkedin_post_url"]
__all__ += ["linkedin_profile_id", "parse_post"]

LINKEDIN = "https://www.linkedin.com"
_HOST = re.compile(r"(?:www\.|[a-z]{2}\.)?linkedin\.com")
_PUBLIC_ID = re.compile(r"[\w\-]{3,100}")
_ACTIVITY_PAGES = {(), ("recent-activity", "all"), ("recent-activity", "shares")}
_ACTIVITY_PAGES |= {("detail", *page) for page in _ACTIVITY_PAGES if page}
_POST_URN = re.compile(r"urn:li:(?:activity|share|ugcPost):(\d+)")
_LINKEDIN_EPOCH = datetime(2003, 1, 1, tzinfo=UTC)


def linkedin_profile_id(url: str) -> str | None:
    """The public id in a profile link (linkedin.com/in/<id>/, or its recent-activity
    page); None for anything else, single posts included."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not _HOST.fullmatch(parts.hostname or ""):
        return None
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if len(segments) < 2 or segments[0] != "in" or tuple(segments[2:]) not in _ACTIVITY_PAGES:
        return None
    return segments[1] if _PUBLIC_ID.fullmatch(segments[1]) else None


def linkedin_post_url(urn_or_link: str) -> str:
    """The url a LinkedIn post is stored under, from its urn or a feed/update link in any
    spelling: spelled as the data export's Shares.csv writes its ShareLink
    (https://www.linkedin.com/feed/update/urn%3Ali%3AugcPost%3A…), so that a post read live
    and the same post imported from the export are one document."""
    match = _POST_URN.search(unquote(urn_or_link))
    if match is None:
        raise ValueError(f"not a LinkedIn post urn or link: {urn_or_link!r}")
    return f"{LINKEDIN}/feed/update/{quote(match.group(0), safe='')}"


def linkedin_post_time(urn: str) -> datetime | None:
    """When a post or activity was created: the top 41 bits of a LinkedIn id are
    milliseconds since the Unix epoch. None when the urn holds no such id."""
    match = _POST_URN.search(urn)
    if match is None:
        return None
    try:
        at = datetime.fromtimestamp((int(match.group(1)) >> 22) / 1000, UTC)
    except (OverflowError, OSError, ValueError):  # digits, but not a LinkedIn id
        return None
    return at if _LINKEDIN_EPOCH <= at <= datetime.now(UTC) else None


@dataclass(frozen=True, slots=True)
class Member:
    public_id: str
    name: str
    profile_urn: str  # urn:li:fsd_profile:ACoA…, what the updates endpoint asks for
    member_urn: str  # urn:li:member:<n>, what a post's actor carries


@dataclass(frozen=True, slots=True)
class Post:
    urn: str  # the activity as listed on the member's feed
    at: datetime | None
    own: bool  # the member's own activity (a post or a reshare), timed as the feed is ordered
    document: Document | None  # None: nothing to read (an image without a caption)


def parse_post(element: Any, member: Member, source: str) -> Post | None:
    """One feed element: the member's post, a reshare with their words (owned), or a repost
    of someone else's post (kept for search, not owned)."""
    update = _update(element)
    urn = dig(update, "updateMetadata", "urn") or _urn_in(dig(update, "entityUrn"))
    if not urn:
        return None
    actor_urn = dig(update, "actor", "urn")
    mine = (  # the member's own activity, with a time that orders the feed
        actor_urn in (member.member_urn, member.profile_urn)
        if actor_urn
        else dig(update, "actor", "name", "text") == member.name
    )
    at = _created(update, urn)
    shown, reshared = update, _update(update.get("resharedUpdate"))
    text = clean_text(dig(update, "commentary", "text", "text"))
    if mine and not text and reshared:  # a repost: what shows is the other author's post
        shown = reshared
        text = clean_text(dig(shown, "commentary", "text", "text"))
    if not text:
        return Post(urn, at, mine, None)
    owned = mine and shown is update
    shown_urn = dig(shown, "updateMetadata", "urn") or urn
    share_urn = dig(shown, "updateMetadata", "shareUrn")
    post_urn = share_urn if _POST_URN.fullmatch(share_urn) else shown_urn
    meta = {"urn": post_urn, "activity_urn": shown_urn}
    if reshared and shown is update:
        meta["reshared_urn"] = dig(reshared, "updateMetadata", "urn")
    document = Document(
        url=linkedin_post_url(post_urn),
        platform="linkedin",
        title=post_title(text),
        text=text,
        author=member.name if owned else dig(shown, "actor", "name", "text"),
        published_at=at if shown is update else _created(shown, shown_urn),
        source_url=source,
        owned=owned,
        meta={key: value for key, value in meta.items() if value},
    )
    return Post(urn, at, mine, document)


def _update(element: Any) -> dict[str, Any]:
    """An UpdateV2, bare or wrapped in Rest.li's union form."""
    if not isinstance(element, dict):
        return {}
    wrapped = _dig_any(element, "value", "com.linkedin.voyager.feed.render.UpdateV2")
    return wrapped if isinstance(wrapped, dict) else element


def _created(update: Mapping[str, Any], urn: str) -> datetime | None:
    stamp = update.get("createdAt") or update.get("firstPublishedAt")
    if isinstance(stamp, int) and stamp > 0:
        return datetime.fromtimestamp(stamp / 1000, UTC)
    return linkedin_post_time(urn)


def _urn_in(entity_urn: str) -> str:
    match = re.search(r"urn:li:activity:\d+", entity_urn)
    return match.group(0) if match else ""


def dig(data: Any, *keys: str) -> str:
    """The string at that path through nested JSON objects; "" when there is none."""
    value = _dig_any(data, *keys)
    return value if isinstance(value, str) else ""


def _dig_any(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
