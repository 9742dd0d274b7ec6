"""What one ingested input came to: the counts and notes the owner reads, or its error."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from core.wording import plural


@dataclass
class InputResult:
    """What happened to one input; `line()` is what the owner reads."""

    input: str
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks: int = 0
    not_modified: bool = False  # the source said nothing changed since the last crawl
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def documents(self) -> int:
        return self.new + self.changed + self.unchanged

    @property
    def anything_new(self) -> bool:
        """Whether this input changed what is stored (new, changed or removed documents)."""
        return bool(self.new or self.changed or self.removed)

    def line(self) -> str:
        if self.error is not None:
            return f"✗ {self.error}"
        if not self.anything_new:
            why = "not modified since the last crawl" if self.not_modified else ""
            if self.unchanged:
                why = f"{plural(self.unchanged, 'document')} unchanged" + (
                    f", {why}" if why else ""
                )
            return f"✓ {self.input}: nothing new" + (f" ({why})" if why else "")
        return f"✓ {self.input}: {_counts([self])}, {plural(self.chunks, 'chunk')} indexed"


def summary(results: Sequence[InputResult], noun: str, verb: str) -> str:
    """The last line after a batch: "5 links checked: nothing new", or
    "2 of 3 inputs ingested: 4 new, 1 unchanged documents, 9 chunks indexed; 1 failed"."""
    failed = sum(not r.ok for r in results)
    done = [r for r in results if r.ok]
    tail = f"; {failed} failed" if failed else ""
    if not done:
        return f"{plural(len(results), noun)}: all failed" if results else f"no {noun}s"
    if not any(r.anything_new for r in done):
        return f"{plural(len(results), noun)} checked: nothing new{tail}"
    chunks = plural(sum(r.chunks for r in done), "chunk")
    head = f"{len(done)} of {plural(len(results), noun)} {verb}"
    return f"{head}: {_counts(done)}, {chunks} indexed{tail}"


def _counts(results: Sequence[InputResult]) -> str:
    """ "3 new, 1 unchanged documents": the non-zero counts, the noun agreeing with the last."""
    counts = [
        (sum(getattr(r, key) for r in results), key)
        for key in ("new", "changed", "unchanged", "removed")
    ]
    shown = [(n, key) for n, key in counts if n]
    words = [f"{n:,} {key}" for n, key in shown]
    words[-1] += " document" if shown[-1][0] == 1 else " documents"
    return ", ".join(words)
