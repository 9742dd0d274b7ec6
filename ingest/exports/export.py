"""What reading an export yields (`Export`) and the seam each platform's reader fills."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    from ingest.document import Document
    from ingest.exports.archive import ExportArchive

__all__ = ["EXPORT_KINDS", "Export", "ExportReader", "chronological"]

EXPORT_KINDS = ("linkedin", "medium", "substack", "x")


@dataclass
class Export:
    """Everything importable in one export, read whole or not at all."""

    kind: str
    documents: list[Document]
    # The account holder's name when the export says, else "".
    owner: str = ""
    # What was skipped or decided, for the owner to read ("12 drafts skipped").
    notes: list[str] = field(default_factory=list)


class ExportReader(Protocol):
    """Reads one platform's export layout. `matches` only looks at member names."""

    kind: ClassVar[str]
    # "LinkedIn": how messages name the platform.
    label: ClassVar[str]
    # What the zip's layout must show, e.g. "Shares.csv or Articles/ at the top of the zip".
    layout: ClassVar[str]
    # Where the owner gets the export, e.g. "LinkedIn: Settings → Data privacy → ...".
    origin: ClassVar[str]

    def matches(self, archive: ExportArchive) -> bool: ...

    def read(self, archive: ExportArchive, *, site: str | None = None) -> Export: ...


def chronological(documents: list[Document]) -> list[Document]:
    """Oldest first, undated last; ties by url, so a reading's order never varies."""
    return sorted(documents, key=lambda d: (d.published_at is None, d.published_at, d.url))
