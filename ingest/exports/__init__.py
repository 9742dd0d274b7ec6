"""Importers for the platforms' own data-export archives: LinkedIn's "Get a copy of your
data", Medium's and Substack's exports and X's archive, each a .zip.

`read_export(path)` recognises the platform by the zip's layout (or checks the kind it is
told) and returns every importable document, the account holder's name and notes on what
was skipped, or raises `InputError` saying what was expected: the whole export or nothing.
Zips are read in memory within `ZipLimits`; nothing is extracted to disk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ingest.exports.archive import ZipLimits
from ingest.exports.export import EXPORT_KINDS, Export

if TYPE_CHECKING:
    from ingest.exports.reader import check_export, detect_export, read_export

__all__ = ["EXPORT_KINDS", "Export", "ZipLimits", "check_export", "detect_export", "read_export"]


def __getattr__(name: str) -> Any:
    """The readers load on first use: naming the export kinds (the command line's
    `--as` choices) does not import every platform's HTML parsing."""
    if name in ("check_export", "detect_export", "read_export"):
        from ingest.exports import reader

        return getattr(reader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
