"""The `Generator` seam: one streaming method yielding typed events.

Backends (`exl2` now; `hf` and `openai` come with the drafting issue) implement `stream`;
capabilities are class attributes, as in simonw/llm.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "cancelled"]


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class GenerationParams:
    max_new_tokens: int = 512
    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 50
    repetition_penalty: float = 1.05
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    """New text since the previous event."""

    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    """The last event of every stream."""

    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    time_to_first_token: float  # seconds from the request to the first text
    tokens_per_second: float  # completion tokens over the decoding time


GenerationEvent = TextDelta | Finished


class Generator(Protocol):
    backend: ClassVar[str]
    # Whether concurrent streams share forward passes (exl2's dynamic generator does).
    can_batch: ClassVar[bool]

    def stream(
        self, messages: Sequence[Message], params: GenerationParams
    ) -> AsyncIterator[GenerationEvent]:
        """Yield `TextDelta`s, then exactly one `Finished`. Closing the iterator early
        cancels the generation."""
        ...

    async def aclose(self) -> None: ...
