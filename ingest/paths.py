"""Reading what the owner points at on disk: a file, a folder, or a platform's export zip.

Files and folders go to the local extractor (`ingest/extractors/local.py`), zips to the
export importers (`ingest/exports/`), which are loaded only when a zip is read.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.extractors.base import Crawl, Seen
from ingest.extractors.local import crawl_files
from ingest.settings import MB, ExportsSettings

if TYPE_CHECKING:
    from ingest.exports.archive import ZipLimits


def crawl_path(path: Path, seen: Seen, *, limits: ZipLimits | None = None) -> Crawl:
    """A file, a folder or a platform export (.zip), as a crawl."""
    if path.suffix.lower() == ".zip" and path.is_file():
        from ingest.exports.crawl import crawl_export  # the importers load for a zip only

        return (
            crawl_export(path, seen) if limits is None else crawl_export(path, seen, limits=limits)
        )
    return crawl_files(path)


def path_crawler(exports: ExportsSettings) -> Callable[[Path, Seen], Crawl]:
    """How local paths are read, export zips within the [exports] limits."""
    from ingest.exports.archive import ZipLimits

    limits = ZipLimits(
        max_total_bytes=exports.max_total_mb * MB,
        max_files=exports.max_files,
        max_file_bytes=exports.max_file_mb * MB,
    )
    return partial(crawl_path, limits=limits)
