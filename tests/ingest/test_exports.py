"""The public API across platforms: detection, kinds checked against layouts, a re-zipped
folder, Windows-style member names, repeated posts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from core.errors import InputError
from ingest.exports import EXPORT_KINDS, Export, detect_export, read_export
from ingest.exports.reader import READERS
from tests.fixtures.exports import (
    LAYOUTS,
    LINKEDIN_SHARES,
    linkedin_members,
    medium_members,
    substack_members,
    write_zip,
    x_members,
)


def test_export_kinds_are_the_readers_in_order() -> None:
    assert EXPORT_KINDS == ("linkedin", "medium", "substack", "x")
    assert tuple(READERS) == EXPORT_KINDS


@pytest.mark.parametrize("kind", EXPORT_KINDS)
def test_each_layout_is_detected_and_read_as_its_kind(tmp_path: Path, kind: str) -> None:
    path = write_zip(tmp_path / f"{kind}.zip", LAYOUTS[kind]())
    assert detect_export(path) == kind
    auto, claimed = read_export(path), read_export(path, kind)
    assert isinstance(auto, Export) and auto.kind == claimed.kind == kind
    assert [d.url for d in auto.documents] == [d.url for d in claimed.documents]
    assert auto.documents and all(d.platform == kind and d.owned for d in auto.documents)
    for document in auto.documents:  # dated, aware, in UTC
        assert document.published_at is not None
        assert document.published_at.tzinfo is not None
        assert document.published_at.utcoffset() == timedelta(0)


def test_a_zip_of_something_else_is_no_export(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "notes.zip", {"notes.txt": "hello", "pics/a.jpg": b"\xff"})
    assert detect_export(path) is None
    with pytest.raises(InputError) as caught:
        read_export(path)
    reason = caught.value.reason
    assert reason.startswith("not a platform data export: expected one of these layouts")
    for layout in (
        "LinkedIn: Shares.csv or Articles/",
        "Medium: posts/*.html",
        "Substack: posts.csv and posts/",
        "X: data/tweets.js",
    ):
        assert layout in reason
    assert "the zip holds notes.txt, pics/" in reason
    assert caught.value.source == str(path)


@pytest.mark.parametrize(
    ("kind", "given", "expected"),
    [
        ("x", "medium", "not a Medium data export: expected posts/*.html at the top of the zip"),
        ("medium", "linkedin", "not a LinkedIn data export: expected Shares.csv or Articles/"),
        ("linkedin", "substack", "not a Substack data export: expected posts.csv and posts/"),
        ("substack", "x", "not an X data export: expected data/tweets.js"),
    ],
)
def test_a_claimed_kind_is_checked_against_the_layout(
    tmp_path: Path, kind: str, given: str, expected: str
) -> None:
    path = write_zip(tmp_path / "export.zip", LAYOUTS[kind]())
    with pytest.raises(InputError) as caught:
        read_export(path, given)
    assert caught.value.reason.startswith(expected)
    assert READERS[given].origin in caught.value.reason  # where to get the right one
    assert caught.value.reason.endswith(f"it looks like an export from {READERS[kind].label}")


def test_an_unknown_kind_names_the_known_ones(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "x.zip", x_members())
    with pytest.raises(InputError) as caught:
        read_export(path, "facebook")
    assert caught.value.reason == (
        "unknown export kind 'facebook': choose one of linkedin, medium, substack, x"
    )


def test_a_re_zipped_export_folder_is_read_from_inside_it(tmp_path: Path) -> None:
    wrapped = {f"medium-export-4f1c/{name}": data for name, data in medium_members().items()}
    path = write_zip(tmp_path / "medium.zip", wrapped)
    assert detect_export(path) == "medium"
    export = read_export(path)
    assert [d.title for d in export.documents] == [
        "Shipping small changes",
        "Great point, but what about latency?",
    ]
    assert export.notes == ["2 drafts skipped"]


def test_a_post_listed_twice_is_stored_once(tmp_path: Path) -> None:
    row = LINKEDIN_SHARES.split("\r\n")[3]
    members = {**linkedin_members(), "Shares.csv": LINKEDIN_SHARES + row + "\r\n"}
    export = read_export(write_zip(tmp_path / "linkedin.zip", members))
    urls = [d.url for d in export.documents]
    assert len(urls) == len(set(urls)) == 4
    assert "1 repeated post (same link) dropped" in export.notes


def test_member_names_written_with_backslashes(tmp_path: Path) -> None:
    """Zips made on Windows by some tools separate folders with backslashes."""
    members = {name.replace("/", "\\"): data for name, data in substack_members().items()}
    path = write_zip(tmp_path / "substack.zip", members)
    assert detect_export(path) == "substack"
    assert [d.title for d in read_export(path).documents] == ["Why I write", "A paid deep dive"]
