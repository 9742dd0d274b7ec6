"""X's archive: the owner's tweets, self-threads joined, retweets left out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.errors import InputError
from ingest.exports import read_export
from tests.fixtures.exports import X_TWEETS, write_zip, x_members

THREAD_IDS = ("1500000000000000001", "1500000000000000002", "1500000000000000003")


def test_a_self_thread_is_one_document_in_order(tmp_path: Path) -> None:
    export = read_export(write_zip(tmp_path / "twitter-archive.zip", x_members()))

    assert export.kind == "x" and export.owner == "Ann Lee"
    assert export.notes == ["1 retweet skipped", "3 tweets joined into 1 thread"]
    thread, reply, quote = export.documents

    # Joined in posting order though the archive lists them otherwise; the t.co link
    # expanded, the photo link and the old-style @self prefix dropped, &amp; unescaped.
    assert thread.text == (
        "Thread on rollbacks 🧵\n\n"
        "Write the rollback first.\n\n"
        "Then test it & time it: https://example.com/rollbacks\n\n"
        "Finally: practise it."
    )
    assert thread.url == f"https://x.com/annlee/status/{THREAD_IDS[0]}"
    assert thread.published_at == datetime(2022, 3, 2, 9, 0, tzinfo=UTC)  # the first tweet's
    assert thread.title == "Thread on rollbacks 🧵"
    assert thread.meta == {
        "username": "annlee",
        "tweet_ids": ",".join(THREAD_IDS),
        "thread_tweets": "3",
        "favorite_count": "40",
    }

    # A reply to someone else is the owner's words, without the @mentions X put in front.
    assert reply.text == "Agreed > disagreed, mostly."
    assert reply.url == "https://x.com/annlee/status/1500000000000000020"
    assert reply.meta["in_reply_to"] == "@bob"
    assert reply.meta["in_reply_to_url"] == "https://x.com/bob/status/1400000000000000000"
    assert reply.published_at == datetime(2022, 3, 4, 11, 30, tzinfo=UTC)

    # A quote tweet: the owner's comment, with the quoted tweet's link.
    assert quote.text == (
        "The best explanation of backpressure I know"
        " https://twitter.com/carol/status/1450000000000000000"
    )
    assert quote.meta["quoted_url"] == "https://twitter.com/carol/status/1450000000000000000"

    assert all((d.platform, d.author, d.owned) == ("x", "Ann Lee", True) for d in export.documents)
    assert not any("Great talk on queues" in d.text for d in export.documents)  # the retweet


def test_an_older_archive_names_the_file_tweet_js(tmp_path: Path) -> None:
    old = X_TWEETS.replace("window.YTD.tweets.part0", "window.YTD.tweet.part0", 1)
    export = read_export(write_zip(tmp_path / "old.zip", {"data/tweet.js": old}))
    assert export.kind == "x"
    # Without account.js: no name, and links that need no user name.
    assert export.owner == ""
    assert export.documents[0].url == f"https://x.com/i/status/{THREAD_IDS[0]}"
    assert export.notes[0] == "data/account.js is missing: tweets are linked as x.com/i/status/<id>"


def test_a_large_archive_split_into_parts(tmp_path: Path) -> None:
    entries = json.loads(X_TWEETS.split("=", 1)[1])
    part0 = [e for e in entries if e["tweet"]["id_str"] in THREAD_IDS[:2]]
    part1 = [e for e in entries if e not in part0]
    members = {
        **x_members(),
        "data/tweets.js": f"window.YTD.tweets.part0 = {json.dumps(part0)}",
        "data/tweets-part1.js": f"window.YTD.tweets.part1 = {json.dumps(part1)}",
    }
    export = read_export(write_zip(tmp_path / "x.zip", members))
    assert len(export.documents) == 3
    assert export.documents[0].meta["tweet_ids"] == ",".join(THREAD_IDS)  # across the parts


def test_only_retweets_is_nothing_to_import(tmp_path: Path) -> None:
    tweets = 'window.YTD.tweets.part0 = [{"tweet": {"id_str": "1", "full_text": "RT @bob: hi"}}]'
    members = {**x_members(), "data/tweets.js": tweets}
    with pytest.raises(InputError) as caught:
        read_export(write_zip(tmp_path / "x.zip", members))
    assert caught.value.reason == (
        "the X archive has no tweets of your own to import (1 retweet skipped)"
    )


@pytest.mark.parametrize(
    ("tweets", "expected"),
    [
        (
            'window.YTD.tweets.part0 = [{"tweet": {"id_str": "1",',
            "data/tweets.js is not the JSON array X writes (line 1: Expecting",
        ),
        (
            '[{"tweet": {"id_str": "1", "full_text": "hi"}}]',
            "data/tweets.js does not start with window.YTD.<name>.part0 = as the files of an"
            " X archive do",
        ),
        ('window.YTD.tweets.part0 = {"tweet": 1}', "data/tweets.js holds no list"),
    ],
)
def test_a_damaged_tweets_file_is_named(tmp_path: Path, tweets: str, expected: str) -> None:
    members = {**x_members(), "data/tweets.js": tweets}
    with pytest.raises(InputError) as caught:
        read_export(write_zip(tmp_path / "x.zip", members))
    assert caught.value.reason.startswith(expected)
