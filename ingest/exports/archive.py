"""A platform's data-export zip, read in memory and within limits.

Nothing is extracted to disk. Before a member is opened its declared size is checked
against the limits, and while it is read its real bytes are counted (a header can lie);
only the members an importer asks for are ever decompressed, so the gigabytes of media an
X archive holds cost nothing. A member name that is absolute or climbs out with `..`
rejects the whole zip: no platform writes one, so such a zip was made by someone else.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from core.errors import InputError

__all__ = ["DAMAGED", "DEFAULT_LIMITS", "ExportArchive", "ZipLimits", "open_archive"]
__all__ += ["zip_fingerprint"]

DAMAGED = "not a zip file (or it is damaged): download the export again"
MB = 1_000_000
_CHUNK = 64 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")
_IGNORED = re.compile(r"(?:^|/)(?:__MACOSX/|\._|\.DS_Store$|Thumbs\.db$)")
# What a damaged member raises while it is decompressed (bad CRC, truncated data).
_UNPACK_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, ValueError)


@dataclass(frozen=True, slots=True)
class ZipLimits:
    """How much of an export zip may be read. Only members an importer reads count toward
    the byte limits (X archives hold gigabytes of media that are never opened); every
    member counts toward `max_files`."""

    # Uncompressed bytes of all the members read, together.
    max_total_bytes: int = 1_000 * MB
    # Members in the zip (an X archive keeps one file per photo or video).
    max_files: int = 100_000
    # Uncompressed bytes of one member (a prolific account's tweets.js runs to 100 MB+).
    max_file_bytes: int = 250 * MB


DEFAULT_LIMITS = ZipLimits()


@dataclass(slots=True)
class _Reading:
    """What the views of one open zip share."""

    source: str
    zip: zipfile.ZipFile
    limits: ZipLimits
    members: dict[str, zipfile.ZipInfo]
    bytes_read: int = 0
    notes: list[str] = field(default_factory=list)


class ExportArchive:
    """An open export zip seen from a root folder ("" is the top of the zip). Names are
    relative to the root, with `/` separators; folders are not listed."""

    def __init__(self, reading: _Reading, root: str = "") -> None:
        self._reading = reading
        self.root = root

    @property
    def source(self) -> str:
        return self._reading.source

    @property
    def notes(self) -> list[str]:
        """Problems met while reading (a member that was not UTF-8), for the owner."""
        return self._reading.notes

    def views(self) -> list[ExportArchive]:
        """The top of the zip and, when every file sits in one folder (a re-zipped
        download), that folder too: where an export's layout may start."""
        views = [self]
        tops = {name.split("/", 1)[0] for name in self._reading.members}
        if len(tops) == 1 and all("/" in name for name in self._reading.members):
            views.append(ExportArchive(self._reading, f"{tops.pop()}/"))
        return views

    @property
    def names(self) -> list[str]:
        root = self.root
        return sorted(n[len(root) :] for n in self._reading.members if n.startswith(root))

    def has(self, name: str) -> bool:
        return self.root + name in self._reading.members

    def files_in(self, folder: str, suffix: str) -> list[str]:
        """The files directly in `folder` whose names end with `suffix` (any case)."""
        prefix = f"{folder.rstrip('/')}/"
        return [
            name
            for name in self.names
            if name.startswith(prefix)
            and "/" not in name[len(prefix) :]
            and name.lower().endswith(suffix.lower())
        ]

    def top_level(self, limit: int = 8) -> str:
        """What the root holds, for error messages: `a.csv, data/, posts/`."""
        entries = sorted({n.split("/", 1)[0] + ("/" if "/" in n else "") for n in self.names})
        shown = ", ".join(entries[:limit])
        more = f" and {len(entries) - limit} more" if len(entries) > limit else ""
        return shown + more if entries else "nothing"

    def fail(self, reason: str) -> InputError:
        return InputError(self.source, reason)

    def read(self, name: str) -> bytes:
        """A member's bytes, within the limits; InputError when it is missing, too large,
        encrypted or damaged."""
        reading, limits = self._reading, self._reading.limits
        info = reading.members.get(self.root + name)
        if info is None:
            raise self.fail(f"{name} is missing from the zip: download the export again")
        if info.flag_bits & 0x1:
            raise self.fail(f"{name} is encrypted: download the export again, unencrypted")
        allowed = min(limits.max_file_bytes, limits.max_total_bytes - reading.bytes_read)
        if info.file_size > allowed:
            raise self.fail(_too_large(name, info.file_size, limits, reading.bytes_read))
        chunks: list[bytes] = []
        size = 0
        try:
            with reading.zip.open(info) as member:
                while chunk := member.read(_CHUNK):
                    size += len(chunk)
                    if size > allowed:  # more than the header declared: never trust it
                        raise self.fail(
                            f"{name} unpacks to more than its header declares"
                            f" ({info.file_size} bytes) and more than the limits allow:"
                            " a damaged or hostile zip; download the export again"
                        )
                    chunks.append(chunk)
        except NotImplementedError:
            raise self.fail(
                f"{name} is compressed with a method Python cannot unpack (zip method"
                f" {info.compress_type}): re-zip the folder with a standard zip tool"
            ) from None
        except _UNPACK_ERRORS as exc:
            raise self.fail(f"{DAMAGED} ({name}: {exc})") from None
        reading.bytes_read += size
        return b"".join(chunks)

    def text(self, name: str) -> str:
        """A member as text: UTF-8 (a byte-order mark dropped); bytes that are not UTF-8
        are replaced, and a note names the member."""
        data = self.read(name)
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            self.notes.append(
                f"{name} is not valid UTF-8 (first bad byte at offset {exc.start});"
                " the bytes that could not be read were replaced"
            )
            return data.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")

    def rows(self, name: str, required: Sequence[str], *, expected: str) -> list[dict[str, str]]:
        """A CSV member's rows as column -> value ("" where a row is short). InputError
        naming the missing columns and those found when a required one is absent;
        `expected` says what the file should have been (e.g. "LinkedIn's Shares.csv")."""
        reader = csv.reader(io.StringIO(self.text(name), newline=""))
        try:
            header = [column.strip() for column in next(reader, [])]
            missing = [column for column in required if column not in header]
            if missing:
                found = ", ".join(c for c in header if c) or "no header row"
                raise self.fail(
                    f"{name} lacks the column{'s' if len(missing) > 1 else ''}"
                    f" {', '.join(missing)} (found: {found}): it is not {expected};"
                    " download the export again"
                )
            return [
                dict(zip(header, row + [""] * (len(header) - len(row)), strict=False))
                for row in reader
                if any(cell.strip() for cell in row)
            ]
        except csv.Error as exc:
            raise self.fail(
                f"{name} is not a readable CSV file ({exc}): download the export again"
            ) from None


@contextmanager
def open_archive(path: Path, limits: ZipLimits) -> Iterator[ExportArchive]:
    """The zip at `path`, open for reading; InputError when it is missing, not a zip,
    damaged, holds too many files or names a file outside itself."""
    source = str(path)
    with _zip_file(path) as zf:
        infos = zf.infolist()
        if len(infos) > limits.max_files:
            raise InputError(
                source,
                f"the zip holds {len(infos)} files, more than the {limits.max_files} an"
                " export may hold: is it the right file?",
            )
        members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = info.filename.replace("\\", "/")
            if _unsafe(name):
                raise InputError(
                    source,
                    f"the zip holds a file named {name!r}, outside the zip's own folder"
                    " (an absolute path or '..'): no platform export does that; download"
                    " the export again from the platform",
                )
            if not info.is_dir() and not _IGNORED.search(name):
                members[name] = info
        yield ExportArchive(_Reading(source, zf, limits, members))


def zip_fingerprint(path: Path) -> str:
    """A digest of every member's name, size and CRC-32, read from the zip's directory
    only: it changes whenever any member's content does, at the cost of no unpacking."""
    digest = hashlib.sha256()
    with _zip_file(path) as zf:
        for info in sorted(zf.infolist(), key=lambda i: i.filename):
            digest.update(f"{info.filename}\0{info.file_size}\0{info.CRC}\n".encode())
    return digest.hexdigest()


@contextmanager
def _zip_file(path: Path) -> Iterator[zipfile.ZipFile]:
    source = str(path)
    if not path.is_file():
        reason = "a folder, not a zip file" if path.is_dir() else "no such file"
        raise InputError(source, f"{reason}: give the path of the export .zip you downloaded")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError):
        raise InputError(source, DAMAGED) from None
    except OSError as exc:
        raise InputError(source, f"cannot read the file: {exc.strerror or exc}") from None
    with zf:
        yield zf


def _unsafe(name: str) -> bool:
    return (
        name.startswith("/")
        or bool(_DRIVE.match(name))
        or ".." in PurePosixPath(name).parts
        or "\0" in name
    )


def _too_large(name: str, size: int, limits: ZipLimits, read: int) -> str:
    if size > limits.max_file_bytes:
        limit = f"the {limits.max_file_bytes} bytes one file may unpack to"
    else:
        limit = f"the {limits.max_total_bytes} bytes an export may unpack to ({read} read)"
    return (
        f"{name} unpacks to {size} bytes, more than {limit}: a zip bomb or not an"
        " export; download the export again from the platform"
    )
