"""What the command layer says back, before any adapter renders it.

Adapters turn these into platform messages: `Say` is one message; a draft is one message
that `DraftUpdate`s edit as text streams in and `DraftFinal` settles (with the sources and
the feedback buttons). Text is light Markdown (`**bold**`, `- ` lists, links as
`title <url>`); each adapter converts or strips it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from model.naming import describe_model
from model.records import DraftRecord, SourceRef, sources_by_role

FeedbackAction = Literal["up", "down", "regenerate", "edit"]
FEEDBACK_ACTIONS: tuple[FeedbackAction, ...] = ("up", "down", "regenerate", "edit")
BUTTON_LABELS: dict[FeedbackAction, str] = {
    "up": "👍",
    "down": "👎",
    "regenerate": "🔁 Regenerate",
    "edit": "✏️ Edit",
}


@dataclass(frozen=True, slots=True)
class ChatUser:
    """Who sent a message: `platform` is telegram, slack or web."""

    platform: str
    id: str
    name: str = ""
    team: str = ""  # Slack workspace id

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.id}"


@dataclass(frozen=True, slots=True)
class Say:
    text: str


@dataclass(frozen=True, slots=True)
class DraftUpdate:
    """The draft so far (the whole text, not a delta: adapters edit one message)."""

    text: str


@dataclass(frozen=True, slots=True)
class DraftFinal:
    draft_id: str
    text: str
    format: str
    sources: tuple[SourceRef, ...]
    notes: tuple[str, ...]
    finish_reason: str
    model: str = ""  # the model that wrote it, in words (model.naming.describe_model)

    @classmethod
    def of(cls, record: DraftRecord) -> DraftFinal:
        """The reply for a finished draft as it was stored."""
        model = describe_model(record.model_id, record.backend, record.model_version)
        return cls(
            record.id,
            record.output,
            record.format,
            record.sources,
            record.notes,
            record.finish_reason,
            model,
        )

    @property
    def footer(self) -> str:
        lines = []
        if self.finish_reason == "cancelled":
            lines.append("(cancelled)")
        elif self.finish_reason == "timeout":
            lines.append("(stopped: it took longer than model.timeout)")
        elif self.finish_reason == "length":
            lines.append("(stopped at the length limit)")
        lines += [f"note: {note}" for note in self.notes]
        for heading, sources in sources_by_role(self.sources):
            lines.append(f"{heading}:")
            lines += [f"- {s.title} <{s.url}>" for s in sources]
        if self.model:
            lines.append(f"Model: {self.model}")
        return "\n".join(lines)

    @property
    def full_text(self) -> str:
        return f"{self.text}\n\n{self.footer}".strip() if self.footer else self.text


Out = Say | DraftUpdate | DraftFinal
