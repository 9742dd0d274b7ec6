"""An export zip as a crawl of a source (what `llm-twin ingest export.zip` runs).

The crawl state remembers how the zip was read (kind, Substack address) and a fingerprint
of its members, so the same file read the same way again is "not modified" without being
unpacked. An export holds everything its platform has of the owner, so every document it
yields is present and one a newer export of the same file no longer holds is removed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ingest.exports.archive import DEFAULT_LIMITS, ZipLimits, zip_fingerprint
from ingest.exports.reader import read_export
from ingest.extractors.base import Crawl, Seen

__all__ = ["crawl_export"]

# Bump when an importer changes what it makes of an export, so stored ones are re-read.
READER_VERSION = 1


def crawl_export(path: Path, seen: Seen, *, limits: ZipLimits = DEFAULT_LIMITS) -> Crawl:
    """Read the export at `path`; `seen.state` may carry "kind" and "site" (the owner's
    hints, or what the last crawl used)."""
    kind, site = _hint(seen.state, "kind"), _hint(seen.state, "site")
    fingerprint = zip_fingerprint(path)
    if (
        seen.documents
        and seen.state.get("fingerprint") == fingerprint
        and seen.state.get("read_with") == _read_with(kind, site)
    ):
        kept = {k: v for k, v in seen.state.items() if k != "site" or kind == "substack"}
        return Crawl(state=kept, not_modified=True, owner=str(seen.state.get("owner", "")))
    export = read_export(path, kind, site=site, limits=limits)
    state: dict[str, Any] = {
        "kind": export.kind,
        "fingerprint": fingerprint,
        "read_with": _read_with(export.kind, site),
        "owner": export.owner,
    }
    if site and export.kind == "substack":
        state["site"] = site
    return Crawl(
        documents=export.documents,
        state=state,
        present=frozenset(d.url for d in export.documents),
        owner=export.owner,
        notes=list(export.notes),
    )


def _read_with(kind: str | None, site: str | None) -> str:
    """How an export was read: the importers' version, the kind and, for Substack (the
    only kind that uses it), the publication's address."""
    return f"{READER_VERSION}:{kind or ''}:{(site or '') if kind == 'substack' else ''}"


def _hint(state: Any, key: str) -> str | None:
    value = state.get(key)
    return (value.strip() or None) if isinstance(value, str) else None
