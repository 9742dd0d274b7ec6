"""Medium's export: posts/*.html with Medium's h-entry markup; drafts left out."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.errors import InputError
from ingest.exports import read_export
from tests.fixtures.exports import (
    MEDIUM_DRAFT,
    MEDIUM_RESPONSE,
    MEDIUM_SHIPPING,
    medium_members,
    medium_post,
    write_zip,
)


def test_published_posts_with_canonical_links_and_the_profile_name(tmp_path: Path) -> None:
    export = read_export(write_zip(tmp_path / "medium-export.zip", medium_members()))

    assert export.kind == "medium" and export.owner == "Ann Lee"
    assert export.notes == ["2 drafts skipped"]
    shipping, response = export.documents

    assert shipping.url == "https://medium.com/@annlee/shipping-small-changes-1a2b3c4d5e6f"
    assert shipping.title == "Shipping small changes"
    assert shipping.published_at == datetime(2019, 3, 3, 20, 19, 14, 123000, tzinfo=UTC)
    # The body without its repeated title and without the link-preview card of someone
    # else's article; the code block verbatim; the entity unescaped.
    assert shipping.text == (
        "#### Why our team ships ten times a day\n\n"
        "Small changes are easy to review & easy to undo.\n\n"
        '```\ngit commit -m "one thing"\ngit push\n```\n\n'
        "Ship the smallest thing that works."
    )
    assert shipping.meta == {
        "file": "posts/2019-03-03_Shipping-small-changes-1a2b3c4d5e6f.html",
        "medium_id": "1a2b3c4d5e6f",
        "subtitle": "Why our team ships ten times a day",
    }

    # A response (a reply to someone's post) is the owner's words: an ordinary post.
    assert response.url == (
        "https://medium.com/@annlee/great-point-but-what-about-latency-abcdef123456"
    )
    assert response.text == "Great point, but what about latency?"
    assert response.published_at == datetime(2020, 1, 5, 8, 0, tzinfo=UTC)

    for document in export.documents:
        assert (document.platform, document.author, document.owned) == ("medium", "Ann Lee", True)


def test_without_a_profile_the_owner_is_the_byline_of_the_posts(tmp_path: Path) -> None:
    members = {
        "posts/2019-03-03_Shipping-small-changes-1a2b3c4d5e6f.html": MEDIUM_SHIPPING,
        "posts/2020-01-05_Great-point--but-what-about-latency--abcdef123456.html": MEDIUM_RESPONSE,
    }
    export = read_export(write_zip(tmp_path / "medium.zip", members))
    assert export.owner == "Ann Lee"
    assert export.notes == []


def test_a_post_without_a_canonical_link_gets_medium_s_short_link(tmp_path: Path) -> None:
    post = MEDIUM_RESPONSE.replace('class="p-canonical"', 'class="other"')
    members = {"posts/2020-01-05_Great-point-abcdef123456.html": post}
    [document] = read_export(write_zip(tmp_path / "medium.zip", members)).documents
    assert document.url == "https://medium.com/p/abcdef123456"


def test_a_file_without_a_post_body_is_skipped_and_named(tmp_path: Path) -> None:
    members = {
        **medium_members(),
        "posts/2021-02-02_Broken-0123456789ab.html": "<html><body><p>no sections</p></body></html>",
    }
    export = read_export(write_zip(tmp_path / "medium.zip", members))
    assert len(export.documents) == 2
    assert export.notes == [
        "2 drafts skipped",
        "posts/2021-02-02_Broken-0123456789ab.html: no post body"
        ' (<section data-field="body">) in it, skipped',
    ]


def test_only_drafts_is_nothing_to_import(tmp_path: Path) -> None:
    members = {f"posts/draft_Idea-{n}-0a0b0c0d0e0{n}.html": MEDIUM_DRAFT for n in range(7)}
    with pytest.raises(InputError) as caught:
        read_export(write_zip(tmp_path / "medium.zip", members))
    assert caught.value.reason == "the Medium export has no published posts (7 drafts skipped)"


def test_a_post_that_is_not_utf8_is_read_and_named(tmp_path: Path) -> None:
    post = medium_post(
        title="Caf\xe9 notes",
        canonical="https://medium.com/@annlee/cafe-notes-0123456789ab",
        published="2022-06-01T10:00:00.000Z",
        body="<p>Writing in a caf\xe9.</p>",
    )
    name = "posts/2022-06-01_Cafe-notes-0123456789ab.html"
    export = read_export(write_zip(tmp_path / "medium.zip", {name: post.encode("cp1252")}))
    [document] = export.documents
    assert document.text == "Writing in a caf\ufffd."
    assert export.notes == [
        f"{name} is not valid UTF-8 (first bad byte at offset {post.index('Caf') + 3});"
        " the bytes that could not be read were replaced"
    ]
