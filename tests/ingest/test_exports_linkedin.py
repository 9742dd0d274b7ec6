"""LinkedIn's data archive: posts from Shares.csv, articles from Articles/, the name from
Profile.csv."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.errors import InputError
from ingest.exports import read_export
from tests.fixtures.exports import (
    LINKEDIN_ARTICLE,
    LINKEDIN_PROFILE,
    LINKEDIN_SHARES,
    linkedin_members,
    write_zip,
)

POST_1 = "https://www.linkedin.com/feed/update/urn%3Ali%3Ashare%3A7060000000000000001"
POST_3 = "https://www.linkedin.com/feed/update/urn%3Ali%3AugcPost%3A7060000000000000003"


def test_posts_and_articles_with_the_profile_name(tmp_path: Path) -> None:
    export = read_export(write_zip(tmp_path / "Basic_LinkedInDataExport.zip", linkedin_members()))

    assert export.kind == "linkedin" and export.owner == "Ann Lee"
    assert export.notes == [
        "1 share without commentary skipped: reposts or media only",
        "1 draft article skipped: created, never published",
    ]
    post, repost, article, unlinked = export.documents  # oldest first

    # The multi-line, quote-doubling commentary comes out whole; the link as LinkedIn wrote it.
    assert post.url == POST_1
    assert post.text == (
        "Three things I learned shipping our search rewrite:\n\n"
        '1. Measure before you "optimise".\n'
        "2. Keep the old path behind a flag.\n"
        "3. Write the rollback first."
    )
    assert post.title == "Three things I learned shipping our search rewrite:"
    assert post.published_at == datetime(2023, 5, 4, 14, 3, 11, tzinfo=UTC)
    assert post.meta == {"urn": "urn:li:share:7060000000000000001", "visibility": "MEMBER_NETWORK"}

    # A repost with the owner's own thoughts is theirs; what it shared is a fact beside it.
    assert repost.url == POST_3
    assert repost.text == "Worth reading, especially the part on queues."
    assert repost.meta["shared_url"] == "https://example.com/queues"
    assert repost.meta["urn"] == "urn:li:ugcPost:7060000000000000003"

    assert article.url == "https://www.linkedin.com/pulse/why-we-rewrote-search-ann-lee-abc1f"
    assert article.title == "Why we rewrote search"
    assert (
        article.text
        == "Our search was slow & hard to change.\n\n### What we kept\n\nThe ranking tests."
    )
    assert article.published_at == datetime(
        2023, 8, 15, 10, 2, tzinfo=UTC
    )  # published, not created

    # An article whose heading links nowhere gets a stable pulse url from its file name.
    assert unlinked.url == "https://www.linkedin.com/pulse/on-code-review"
    assert unlinked.title == "On code review"

    for document in export.documents:
        assert document.platform == "linkedin"
        assert document.author == "Ann Lee"
        assert document.owned is True
    assert "Half an idea." not in {d.text for d in export.documents}  # the draft


def test_articles_directly_under_articles_and_no_profile(tmp_path: Path) -> None:
    members = {"Articles/2023-08-15 09:41:00.0-Why-we-rewrote-search.html": LINKEDIN_ARTICLE}
    export = read_export(write_zip(tmp_path / "linkedin.zip", members), "linkedin")
    [article] = export.documents
    assert article.title == "Why we rewrote search"
    assert export.owner == "" and article.author == ""


def test_posts_only_with_windows_line_ends_and_a_bom(tmp_path: Path) -> None:
    members = {"Shares.csv": "\ufeff" + LINKEDIN_SHARES, "Profile.csv": LINKEDIN_PROFILE}
    export = read_export(write_zip(tmp_path / "linkedin.zip", members))
    assert [d.url for d in export.documents] == [POST_1, POST_3]
    assert export.documents[0].text.count("\n") == 4  # commentary newlines kept, no \r


def test_shares_csv_with_other_columns_names_what_is_missing(tmp_path: Path) -> None:
    members = {"Shares.csv": "Date,Link,Text\n2023-05-04 14:03:11,https://x,hello\n"}
    with pytest.raises(InputError) as caught:
        read_export(write_zip(tmp_path / "linkedin.zip", members))
    assert caught.value.reason == (
        "Shares.csv lacks the columns ShareLink, ShareCommentary (found: Date, Link, Text):"
        " it is not LinkedIn's Shares.csv; download the export again"
    )


def test_only_bare_reposts_is_nothing_to_import(tmp_path: Path) -> None:
    shares = (
        "Date,ShareLink,ShareCommentary,SharedUrl,MediaUrl,Visibility\r\n"
        "2023-06-10 08:00:00,https://www.linkedin.com/feed/update/urn%3Ali%3Ashare%3A7,"
        ",https://example.com/someone-elses-post,,MEMBER_NETWORK\r\n"
    )
    members = {"Shares.csv": shares, "Profile.csv": LINKEDIN_PROFILE}
    with pytest.raises(InputError) as caught:
        read_export(write_zip(tmp_path / "linkedin.zip", members))
    assert caught.value.reason == (
        "the LinkedIn export has no posts or articles to import"
        " (1 share without commentary skipped: reposts or media only)"
    )


def test_an_archive_without_posts_or_articles_says_to_request_them(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "linkedin.zip", {"Profile.csv": LINKEDIN_PROFILE})
    with pytest.raises(InputError) as caught:
        read_export(path)
    assert caught.value.reason == (
        "the LinkedIn export has no posts or articles to import (the archive has neither"
        " Shares.csv nor Articles/: request it again with your posts and articles included)"
    )


def test_a_profile_without_the_name_costs_only_the_name(tmp_path: Path) -> None:
    members = {**linkedin_members(), "Profile.csv": "Headline,Industry\r\nEngineer,Software\r\n"}
    export = read_export(write_zip(tmp_path / "linkedin.zip", members))
    assert export.owner == "" and len(export.documents) == 4
    assert export.notes[0] == (
        "Profile.csv gives no First Name or Last Name: the owner's name is unknown"
    )
