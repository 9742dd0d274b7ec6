"""Substack's export: posts.csv beside posts/<post_id>.html; the address given or not."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.errors import InputError
from ingest.exports import read_export
from tests.fixtures.exports import substack_members, write_zip

NO_SITE_NOTE = (
    "no publication address given: posts are stored under"
    " https://substack.com/home/post/p-<id> links; give the address"
    " (e.g. https://name.substack.com) to store them under their real links"
)


def test_published_posts_without_the_page_chrome(tmp_path: Path) -> None:
    export = read_export(write_zip(tmp_path / "substack.zip", substack_members()))

    assert export.kind == "substack"
    assert export.owner == ""  # the export does not say whose publication it is
    assert export.notes == ["1 unpublished post skipped", NO_SITE_NOTE]
    why, paid = export.documents

    # Without the address, a stable link Substack itself resolves, from the numeric id.
    assert why.url == "https://substack.com/home/post/p-140001"
    assert why.title == "Why I write"
    assert why.text == "I write to think.\n\n## Habits\n\nEvery morning, 300 words."
    assert why.published_at == datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
    assert why.meta == {
        "post_id": "140001",
        "slug": "why-i-write",
        "type": "newsletter",
        "audience": "everyone",
        "subtitle": "On habits, and keeping them",
    }

    assert paid.url == "https://substack.com/home/post/p-140003"
    assert paid.text == "Queues first.\n\nThen the rest."
    assert paid.meta["audience"] == "only_paid"
    for document in export.documents:
        assert (document.platform, document.owned) == ("substack", True)


@pytest.mark.parametrize(
    "site",
    ["https://annlee.substack.com", "annlee.substack.com", "HTTPS://AnnLee.substack.com/archive"],
)
def test_with_the_address_posts_get_their_real_links(tmp_path: Path, site: str) -> None:
    path = write_zip(tmp_path / "substack.zip", substack_members())
    export = read_export(path, "substack", site=site)
    assert [d.url for d in export.documents] == [
        "https://annlee.substack.com/p/why-i-write",
        "https://annlee.substack.com/p/paid-deep-dive",
    ]
    assert export.notes == ["1 unpublished post skipped"]


def test_a_custom_domain_address(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "substack.zip", substack_members())
    export = read_export(path, site="https://www.annlee.blog/")
    assert export.documents[0].url == "https://www.annlee.blog/p/why-i-write"


def test_an_address_that_is_not_one_is_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "substack.zip", substack_members())
    with pytest.raises(InputError) as caught:
        read_export(path, site="my substack")
    assert caught.value.source == "my substack"
    assert caught.value.reason.startswith("not a web address (")
    assert caught.value.reason.endswith(
        "give your publication's address, e.g. https://name.substack.com"
    )


def test_a_listed_post_without_its_file_is_skipped_and_named(tmp_path: Path) -> None:
    members = substack_members()
    del members["posts/140003.paid-deep-dive.html"]
    export = read_export(write_zip(tmp_path / "substack.zip", members))
    assert [d.title for d in export.documents] == ["Why I write"]
    assert "posts/140003.paid-deep-dive.html is missing, skipped" in export.notes


def test_posts_csv_with_other_columns_names_what_is_missing(tmp_path: Path) -> None:
    members = {**substack_members(), "posts.csv": "post_id,post_date,title\n1.a,2024-01-01,A\n"}
    with pytest.raises(InputError) as caught:
        read_export(write_zip(tmp_path / "substack.zip", members))
    assert caught.value.reason == (
        "posts.csv lacks the column is_published (found: post_id, post_date, title):"
        " it is not Substack's posts.csv; download the export again"
    )


def test_only_unpublished_posts_is_nothing_to_import(tmp_path: Path) -> None:
    members = {
        "posts.csv": (
            "post_id,post_date,is_published,email_sent_at,inbox_sent_at,type,audience,title,"
            "subtitle,podcast_url\n"
            "1.idea,,false,,,newsletter,everyone,Idea,,\n"
            "2.other-idea,,FALSE,,,newsletter,everyone,Other idea,,\n"
        ),
        "posts/1.idea.html": "<p>Idea.</p>",
        "posts/2.other-idea.html": "<p>Other idea.</p>",
    }
    with pytest.raises(InputError) as caught:
        read_export(write_zip(tmp_path / "substack.zip", members))
    assert caught.value.reason == (
        "the Substack export has no published posts (2 unpublished posts skipped)"
    )
