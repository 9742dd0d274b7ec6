"""Zip safety and damaged files: every failure is an InputError saying what to do, and
nothing is returned half-read."""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from core.errors import InputError
from ingest.exports import ZipLimits, detect_export, read_export
from tests.fixtures.exports import medium_members, medium_post, write_zip, x_members

DAMAGED = "not a zip file (or it is damaged): download the export again"
BOMB_NAME = "posts/2020-01-01_Big-0123456789ab.html"


def reason_of(path: Path, limits: ZipLimits | None = None) -> str:
    with pytest.raises(InputError) as caught:
        read_export(path, limits=limits or ZipLimits())
    assert caught.value.source == str(path)
    return caught.value.reason


def zip_bytes(members: Mapping[str, str | bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


LOCAL, CENTRAL = b"PK\x03\x04", b"PK\x01\x02"  # zip header signatures


def header(data: bytearray, signature: bytes, name: str) -> int:
    """Where the local (or central directory) header of member `name` starts."""
    name_at = 30 if signature == LOCAL else 46
    at = data.index(signature)
    while data[at + name_at : at + name_at + len(name)] != name.encode():
        at = data.index(signature, at + 4)
    return at


def padded_post(size: int) -> str:
    """A Medium post file of about `size` bytes of highly compressible text."""
    return medium_post(
        title="Big",
        canonical="https://medium.com/@annlee/big-0123456789ab",
        published="2020-01-01T00:00:00.000Z",
        body=f"<p>{'a' * size}</p>",
    )


def test_a_file_that_is_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "export.zip"
    path.write_text("Date,ShareLink\n")
    assert reason_of(path) == DAMAGED
    with pytest.raises(InputError, match="damaged"):
        detect_export(path)


def test_a_truncated_zip(tmp_path: Path) -> None:
    data = zip_bytes(medium_members())
    path = tmp_path / "export.zip"
    path.write_bytes(data[: len(data) // 2])  # a download cut short
    assert reason_of(path) == DAMAGED


def test_corrupt_bytes_in_a_member_fail_its_checksum(tmp_path: Path) -> None:
    data = bytearray(zip_bytes(medium_members(), compression=zipfile.ZIP_STORED))
    at = data.index(b"Small changes are easy")
    data[at : at + 5] = b"Tiny "  # one bit rot's worth; the CRC no longer matches
    path = tmp_path / "export.zip"
    path.write_bytes(bytes(data))
    reason = reason_of(path)
    assert reason.startswith(f"{DAMAGED} (posts/2019-03-03_Shipping-small-changes")
    assert "CRC" in reason


def test_a_zip_bomb_is_refused_by_its_declared_size(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "bomb.zip", {**medium_members(), BOMB_NAME: padded_post(5_000_000)})
    assert path.stat().st_size < 50_000  # 5 MB that packs into a few kilobytes
    limits = ZipLimits(max_file_bytes=1_000_000)
    reason = reason_of(path, limits)
    assert reason.startswith(f"{BOMB_NAME} unpacks to 50")
    assert "bytes, more than the 1000000 bytes one file may unpack to: a zip bomb" in reason
    assert read_export(write_zip(tmp_path / "fine.zip", medium_members()), limits=limits)


def test_the_total_read_is_limited_too(tmp_path: Path) -> None:
    members = {
        f"posts/2020-01-0{n}_Big-{n}123456789ab.html": padded_post(400_000) for n in range(1, 4)
    }
    limits = ZipLimits(max_file_bytes=1_000_000, max_total_bytes=1_000_000)
    reason = reason_of(write_zip(tmp_path / "big.zip", members), limits)
    assert reason.startswith("posts/2020-01-03_Big-3123456789ab.html unpacks to 40")
    assert "more than the 1000000 bytes an export may unpack to (80" in reason


def test_a_header_that_understates_the_size_is_caught_while_reading(tmp_path: Path) -> None:
    data = bytearray(zip_bytes({**medium_members(), BOMB_NAME: padded_post(1_000_000)}))
    # Declare 100 bytes where a megabyte unpacks, in the local header and the directory.
    struct.pack_into("<I", data, header(data, LOCAL, BOMB_NAME) + 22, 100)
    struct.pack_into("<I", data, header(data, CENTRAL, BOMB_NAME) + 24, 100)
    path = tmp_path / "liar.zip"
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo(BOMB_NAME).file_size == 100  # what the header now claims
    reason = reason_of(path, ZipLimits(max_file_bytes=10_000))
    assert reason.startswith(f"{DAMAGED} ({BOMB_NAME}: ")


def test_too_many_files(tmp_path: Path) -> None:
    members = {**x_members(), **{f"data/tweets_media/{n}.jpg": b"\xff" for n in range(3)}}
    reason = reason_of(write_zip(tmp_path / "x.zip", members), ZipLimits(max_files=6))
    assert (
        reason == "the zip holds 8 files, more than the 6 an export may hold: is it the right file?"
    )


@pytest.mark.parametrize(
    "name", ["../evil.html", "/etc/passwd", "posts/../../evil.html", "C:/evil.txt", "a\\..\\b"]
)
def test_a_member_named_outside_the_zip_rejects_it(tmp_path: Path, name: str) -> None:
    path = write_zip(tmp_path / "export.zip", {**medium_members(), name: "<p>x</p>"})
    reason = reason_of(path)
    assert reason.startswith("the zip holds a file named ")
    assert "outside the zip's own folder (an absolute path or '..')" in reason


def test_an_encrypted_member(tmp_path: Path) -> None:
    data = bytearray(zip_bytes(x_members()))
    for signature, flags in ((LOCAL, 6), (CENTRAL, 8)):  # general-purpose flag bit 0
        at = header(data, signature, "data/tweets.js") + flags
        struct.pack_into("<H", data, at, data[at] | 0x1)
    path = tmp_path / "x.zip"
    path.write_bytes(bytes(data))
    assert reason_of(path) == "data/tweets.js is encrypted: download the export again, unencrypted"


def test_a_path_that_is_no_file(tmp_path: Path) -> None:
    assert reason_of(tmp_path / "missing.zip") == (
        "no such file: give the path of the export .zip you downloaded"
    )
    assert reason_of(tmp_path) == (
        "a folder, not a zip file: give the path of the export .zip you downloaded"
    )
