"""X (Twitter) "Download an archive of your data": `data/tweets.js` (`data/tweet.js` in
older archives; `-partN` files in large ones) and `data/account.js`.

Each file is JavaScript: `window.YTD.tweets.part0 = [ {"tweet": {...}}, ... ]`. The archive
holds only the account holder's tweets, so:
- retweets ("RT @" or marked retweeted) are someone else's words: skipped and counted;
- a reply to a tweet that is in the archive is the owner continuing their own tweet: a
  thread, joined into one document in order (blank lines between tweets; the first
  tweet's url and date), the form the twin drafts threads in;
- a reply to someone else is the owner's words: its own document, owned, with
  `meta["in_reply_to"]` naming the account (the @mentions X puts in front are dropped);
- a quote tweet's comment is the owner's; the quoted tweet is not in the archive, only
  its link (kept in the text and in `meta["quoted_url"]`).
t.co links become the links they stand for, media links are dropped, and HTML entities
(&amp;) are unescaped. A tweet's url is https://x.com/<username>/status/<id>.
"""

from __future__ import annotations

import html
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from ingest.clean import clean_text
from ingest.document import Document, parse_date, post_title
from ingest.exports.archive import ExportArchive
from ingest.exports.export import Export
from ingest.exports.text import counted

__all__ = ["XExportReader"]

ACCOUNT = "data/account.js"
_TWEET_FILE = re.compile(r"^data/tweets?(?:-part(\d+))?\.js$")
_YTD = re.compile(r"^\s*window\.YTD\.\w+\.part\d+\s*=\s*")
_STATUS_LINK = re.compile(
    r"^https?://(?:www\.|mobile\.)?(?:twitter|x)\.com/\w+/status(?:es)?/\d+", re.IGNORECASE
)
_MENTIONS = re.compile(r"(?:\s*@\w+)+\s*")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}


@dataclass(frozen=True, slots=True)
class _Tweet:
    id: str
    text: str
    created: datetime | None
    reply_to: str  # the id of the tweet this one answers, or ""
    reply_to_name: str  # that tweet's author's screen name, or ""
    likes: str
    quoted: str  # the link of a tweet this one quotes, or ""


class XExportReader:
    kind: ClassVar[str] = "x"
    label: ClassVar[str] = "X"
    layout: ClassVar[str] = "data/tweets.js (or data/tweet.js) in the zip"
    origin: ClassVar[str] = "X: Settings → Your account → Download an archive of your data"

    def matches(self, archive: ExportArchive) -> bool:
        return bool(_tweet_files(archive))

    def read(self, archive: ExportArchive, *, site: str | None = None) -> Export:
        notes: list[str] = []
        account = _account(archive)
        username = account.get("username", "")
        owner = account.get("accountDisplayName", "") or username
        if not account:
            notes.append(f"{ACCOUNT} is missing: tweets are linked as x.com/i/status/<id>")
        tweets: dict[str, _Tweet] = {}
        retweets = unreadable = 0
        for name in _tweet_files(archive):
            for item in _ytd_list(archive, name):
                raw = item.get("tweet", item) if isinstance(item, dict) else None
                if not isinstance(raw, dict) or not str(raw.get("id_str", "")).isdigit():
                    unreadable += 1
                elif _is_retweet(raw):
                    retweets += 1
                else:
                    tweets.setdefault(raw["id_str"], _tweet(raw))
        documents: list[Document] = []
        empty = joined = threads = 0
        for thread in _threads(tweets):
            text = "\n\n".join(t.text for t in thread if t.text)
            if not text:
                empty += 1
                continue
            if len(thread) > 1:
                joined, threads = joined + len(thread), threads + 1
            documents.append(_document(thread, text, username, owner))
        for n, what in (
            (retweets, f"{counted(retweets, 'retweet')} skipped"),
            (joined, f"{counted(joined, 'tweet')} joined into {counted(threads, 'thread')}"),
            (empty, f"{counted(empty, 'tweet')} without text (media only) skipped"),
            (unreadable, f"{counted(unreadable, 'entry', 'entries')} without a tweet id skipped"),
        ):
            if n:
                notes.append(what)
        if not documents:
            reasons = "; ".join(notes) or "the archive lists no tweets"
            raise archive.fail(f"the X archive has no tweets of your own to import ({reasons})")
        return Export(self.kind, documents, owner, notes)


def _tweet_files(archive: ExportArchive) -> list[str]:
    found = [(m, n) for n in archive.names if (m := _TWEET_FILE.match(n))]
    return [name for match, name in sorted(found, key=lambda f: int(f[0].group(1) or 0))]


def _ytd_list(archive: ExportArchive, name: str) -> list[Any]:
    """The array in `window.YTD.<name>.part0 = [...]`."""
    text = archive.text(name)
    prefix = _YTD.match(text)
    if prefix is None:
        raise archive.fail(
            f"{name} does not start with window.YTD.<name>.part0 = as the files of an X"
            " archive do: download the archive again"
        )
    try:
        data = json.loads(text[prefix.end() :].strip().rstrip(";"))
    except json.JSONDecodeError as exc:
        raise archive.fail(
            f"{name} is not the JSON array X writes (line {exc.lineno}: {exc.msg}):"
            " download the archive again"
        ) from None
    except RecursionError:
        raise archive.fail(f"{name} is nested too deeply to be an X archive file") from None
    if not isinstance(data, list):
        raise archive.fail(f"{name} holds no list after its window.YTD prefix")
    return data


def _account(archive: ExportArchive) -> dict[str, str]:
    if not archive.has(ACCOUNT):
        return {}
    items = _ytd_list(archive, ACCOUNT)
    first = items[0] if items and isinstance(items[0], dict) else {}
    account = first.get("account", first)
    if not isinstance(account, dict):
        return {}
    return {key: value.strip() for key, value in account.items() if isinstance(value, str)}


def _is_retweet(raw: dict[str, Any]) -> bool:
    text = str(raw.get("full_text") or raw.get("text") or "")
    return text.startswith("RT @") or raw.get("retweeted") is True or "retweeted_status" in raw


def _tweet(raw: dict[str, Any]) -> _Tweet:
    text = str(raw.get("full_text") or raw.get("text") or "")
    reply_to = str(raw.get("in_reply_to_status_id_str") or "")
    reply_to_name = str(raw.get("in_reply_to_screen_name") or "")
    if reply_to or reply_to_name:
        text = _without_reply_mentions(text, raw.get("display_text_range"))
    entities, extended = _mapping(raw.get("entities")), _mapping(raw.get("extended_entities"))
    quoted = ""
    links = sorted(_dicts(entities.get("urls")), key=lambda u: -len(str(u.get("url") or "")))
    for link in links:
        short, full = str(link.get("url") or ""), str(link.get("expanded_url") or "")
        if short and full:
            text = text.replace(short, full)
            quoted = quoted or (full if _STATUS_LINK.match(full) else "")
    for media in [*_dicts(entities.get("media")), *_dicts(extended.get("media"))]:
        if short := str(media.get("url") or ""):
            text = text.replace(short, "")  # the photo itself is not in the text
    return _Tweet(
        id=str(raw["id_str"]),
        text=clean_text(html.unescape(text)),
        created=_created(str(raw.get("created_at") or "")),
        reply_to=reply_to,
        reply_to_name=reply_to_name,
        likes=str(raw.get("favorite_count", "")),
        quoted=quoted,
    )


def _without_reply_mentions(text: str, display_range: Any) -> str:
    """Drop the @mentions X puts in front of a reply: the part before where its
    `display_text_range` starts, when that part is nothing but mentions."""
    try:
        start = int(display_range[0])
    except (TypeError, ValueError, IndexError, KeyError):
        return text
    return text[start:] if start > 0 and _MENTIONS.fullmatch(text[:start]) else text


def _threads(tweets: dict[str, _Tweet]) -> list[list[_Tweet]]:
    """Each of the owner's tweets that continues none of their others, with every tweet
    continuing it (in the order posted: ids grow with time)."""
    replies: dict[str, list[_Tweet]] = defaultdict(list)
    roots: list[_Tweet] = []
    for tweet in tweets.values():
        if tweet.reply_to in tweets and tweet.reply_to != tweet.id:
            replies[tweet.reply_to].append(tweet)
        else:
            roots.append(tweet)
    threads: list[list[_Tweet]] = []
    for root in sorted(roots, key=lambda t: int(t.id)):
        thread, pending = [], [root]
        while pending:
            tweet = pending.pop()
            thread.append(tweet)
            pending.extend(replies.pop(tweet.id, []))
        threads.append(sorted(thread, key=lambda t: int(t.id)))
    return threads


def _document(thread: list[_Tweet], text: str, username: str, owner: str) -> Document:
    first = thread[0]
    facts = {
        "username": username,
        "tweet_ids": ",".join(t.id for t in thread),
        "thread_tweets": str(len(thread)) if len(thread) > 1 else "",
        "in_reply_to": f"@{first.reply_to_name}" if first.reply_to_name else "",
        "in_reply_to_url": (
            f"https://x.com/{first.reply_to_name}/status/{first.reply_to}"
            if first.reply_to and first.reply_to_name
            else ""
        ),
        "quoted_url": next((t.quoted for t in thread if t.quoted), ""),
        "favorite_count": first.likes,
    }
    return Document(
        url=f"https://x.com/{username or 'i'}/status/{first.id}",
        platform="x",
        title=post_title(text),
        text=text,
        author=owner,
        published_at=first.created,
        owned=True,
        meta={key: value for key, value in facts.items() if value},
    )


def _created(value: str) -> datetime | None:
    """X's "Wed Oct 10 20:19:24 +0000 2018", read without the locale (month names)."""
    parts = value.split()
    if len(parts) == 6 and parts[1] in _MONTHS:
        numeric = f"{_MONTHS[parts[1]]} {' '.join(parts[2:])}"
        try:
            return datetime.strptime(numeric, "%m %d %H:%M:%S %z %Y").astimezone(UTC)
        except ValueError:
            return None
    return parse_date(value)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
