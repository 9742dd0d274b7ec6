"""What one ingested input came to: the counts and notes the owner reads, or its error."""

from __future__ import annotations

from dataclasses import dataclass, field


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

    def line(self) -> str:
        if self.error is not None:
            return f"✗ {self.error}"
        counts = [
            f"{n} {word}"
            for n, word in (
                (self.new, "new"),
                (self.changed, "changed"),
                (self.unchanged, "unchanged"),
                (self.removed, "removed"),
            )
            if n
        ]
        if self.not_modified:
            counts.append("not modified since the last crawl")
        return f"✓ {self.input}: {', '.join(counts) or 'nothing'} ({self.chunks} chunks)"
