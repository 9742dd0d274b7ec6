"""Which platform an export zip comes from, and reading it whole."""

from __future__ import annotations

from pathlib import Path

from core.errors import InputError
from ingest.document import Document
from ingest.exports.archive import DEFAULT_LIMITS, ExportArchive, ZipLimits, open_archive
from ingest.exports.export import Export, ExportReader
from ingest.exports.linkedin import LinkedInExportReader
from ingest.exports.medium import MediumExportReader
from ingest.exports.substack import SubstackExportReader
from ingest.exports.text import counted
from ingest.exports.x import XExportReader

__all__ = ["READERS", "check_export", "detect_export", "read_export"]

READERS: dict[str, ExportReader] = {
    reader.kind: reader
    for reader in (
        LinkedInExportReader(),
        MediumExportReader(),
        SubstackExportReader(),
        XExportReader(),
    )
}


def detect_export(path: Path, *, limits: ZipLimits = DEFAULT_LIMITS) -> str | None:
    """The kind of export the zip at `path` is, by its layout; None when it is none of
    them. InputError when the file is not a zip that can be read."""
    with open_archive(path, limits) as archive:
        found = _detect(archive)
    return found[0].kind if found else None


def read_export(
    path: Path,
    kind: str | None = None,
    *,
    site: str | None = None,
    limits: ZipLimits = DEFAULT_LIMITS,
) -> Export:
    """Every importable document in the export zip at `path`, or InputError saying what
    was expected: the whole export or nothing. `kind` None recognises the platform by the
    zip's layout; a given kind is checked against it. `site` is a Substack publication's
    address (https://name.substack.com), which the export does not hold; other kinds
    ignore it."""
    with open_archive(path, limits) as archive:
        reader, view = _located(archive, _reader(path, kind))
        export = reader.read(view, site=site)
        export.notes.extend(archive.notes)
    return _without_repeats(export)


def check_export(path: Path, kind: str | None = None, *, limits: ZipLimits = DEFAULT_LIMITS) -> str:
    """The kind of export the zip at `path` is, checked as `read_export` checks it (the
    same InputError when it is no export, or not `kind`), without reading its posts."""
    with open_archive(path, limits) as archive:
        reader, _ = _located(archive, _reader(path, kind))
    return reader.kind


def _reader(path: Path, kind: str | None) -> ExportReader | None:
    if kind is None:
        return None
    reader = READERS.get(kind.strip().lower())
    if reader is None:
        raise InputError(
            str(path), f"unknown export kind {kind!r}: choose one of {', '.join(READERS)}"
        )
    return reader


def _detect(archive: ExportArchive) -> tuple[ExportReader, ExportArchive] | None:
    for view in archive.views():
        for reader in READERS.values():
            if reader.matches(view):
                return reader, view
    return None


def _located(
    archive: ExportArchive, reader: ExportReader | None
) -> tuple[ExportReader, ExportArchive]:
    """The reader for the zip and the folder its layout starts in."""
    if reader is None:
        found = _detect(archive)
        if found is not None:
            return found
        layouts = "; ".join(f"{r.label}: {r.layout}" for r in READERS.values())
        raise archive.fail(
            f"not a platform data export: expected one of these layouts ({layouts}); the"
            f" zip holds {archive.top_level()}"
        )
    for view in archive.views():
        if reader.matches(view):
            return reader, view
    other = _detect(archive)
    looks = f"; it looks like an export from {other[0].label}" if other else ""
    article = "an" if reader.label[0] in "AEIOUX" else "a"
    raise archive.fail(
        f"not {article} {reader.label} data export: expected {reader.layout}"
        f" ({reader.origin}); the zip holds {archive.top_level()}{looks}"
    )


def _without_repeats(export: Export) -> Export:
    """One document per url: a platform that lists a post twice stores it once."""
    seen: set[str] = set()
    unique: list[Document] = []
    for document in export.documents:
        if document.url not in seen:
            seen.add(document.url)
            unique.append(document)
    if repeats := len(export.documents) - len(unique):
        export.notes.append(f"{counted(repeats, 'repeated post')} (same link) dropped")
    export.documents = unique
    return export
