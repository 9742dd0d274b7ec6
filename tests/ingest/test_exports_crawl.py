"""An export zip given as a local input: a crawl that lists every document it holds and is
not read again while the file and the way it is read stay the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import InputError
from ingest.exports.crawl import crawl_export
from ingest.extractors.base import Crawl, Seen
from ingest.paths import crawl_path
from tests.fixtures.exports import (
    MEDIUM_RESPONSE,
    medium_members,
    substack_members,
    write_zip,
    x_members,
)


def seen_after(crawl: Crawl, **hints: str) -> Seen:
    """What the warehouse hands the next crawl of the same source."""
    return Seen(
        state={**crawl.state, **hints}, documents={d.url: dict(d.meta) for d in crawl.documents}
    )


def test_a_local_zip_input_is_read_as_an_export(tmp_path: Path) -> None:
    crawl = crawl_path(write_zip(tmp_path / "x.zip", x_members()), Seen())
    assert [d.url for d in crawl.documents] == [
        "https://x.com/annlee/status/1500000000000000001",
        "https://x.com/annlee/status/1500000000000000020",
        "https://x.com/annlee/status/1500000000000000030",
    ]
    assert crawl.present == frozenset(d.url for d in crawl.documents)
    assert crawl.owner == "Ann Lee"
    assert crawl.notes == ["1 retweet skipped", "3 tweets joined into 1 thread"]
    assert crawl.state["kind"] == "x" and crawl.state["owner"] == "Ann Lee"
    assert not crawl.not_modified


def test_the_same_file_read_the_same_way_is_not_modified(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "medium.zip", medium_members())
    first = crawl_export(path, Seen())
    again = crawl_export(path, seen_after(first))
    assert again.not_modified and again.documents == []
    assert again.owner == "Ann Lee" and again.state == first.state


def test_a_newer_export_is_read_again_and_lists_what_it_holds(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "medium.zip", medium_members())
    first = crawl_export(path, Seen())
    members = medium_members()
    del members["posts/2020-01-05_Great-point--but-what-about-latency--abcdef123456.html"]
    members["posts/2024-02-02_Later-post-0f0f0f0f0f0f.html"] = MEDIUM_RESPONSE.replace(
        "great-point-but-what-about-latency-abcdef123456", "later-post-0f0f0f0f0f0f"
    )
    write_zip(path, members)
    second = crawl_export(path, seen_after(first))
    assert not second.not_modified
    assert second.present == frozenset(
        {
            "https://medium.com/@annlee/shipping-small-changes-1a2b3c4d5e6f",
            "https://medium.com/@annlee/later-post-0f0f0f0f0f0f",
        }
    )  # the deleted response is no longer present, so the pipeline removes it
    assert second.state["fingerprint"] != first.state["fingerprint"]


def test_a_substack_address_given_later_rereads_with_real_links(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "substack.zip", substack_members())
    first = crawl_export(path, Seen())
    assert first.documents[0].url == "https://substack.com/home/post/p-140001"
    second = crawl_export(path, seen_after(first, site="https://annlee.substack.com"))
    assert not second.not_modified
    assert second.documents[0].url == "https://annlee.substack.com/p/why-i-write"
    assert second.state["site"] == "https://annlee.substack.com"
    # The address is remembered: a recrawl with no hints is not modified.
    assert crawl_export(path, seen_after(second)).not_modified


def test_a_claimed_kind_comes_through_the_crawl_state(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "x.zip", x_members())
    with pytest.raises(InputError, match="not a Medium data export"):
        crawl_export(path, Seen(state={"kind": "medium"}))


def test_an_address_given_for_another_kind_of_export_changes_nothing(tmp_path: Path) -> None:
    """`ingest a.zip b.zip --site ...` hands the address to every input."""
    path = write_zip(tmp_path / "x.zip", x_members())
    first = crawl_export(path, Seen())
    again = crawl_export(path, seen_after(first, site="https://annlee.substack.com"))
    assert again.not_modified
    assert "site" not in first.state and "site" not in again.state
