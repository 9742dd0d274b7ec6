"""The `Generator` seam: one streaming method yielding typed events.

Backends (`hf`, `exl2`, `openai`) implement `stream`; capabilities are class attributes,
as in simonw/llm. Every backend loads (or reaches) its model in its constructor, so a
missing model fails start-up, not the first request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol

Role = Literal["system", "user", "assistant"]
# "timeout" comes from the model worker, which stops a job that outlives its budget.
FinishReason = Literal["stop", "length", "cancelled", "timeout"]


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
    # Whether concurrent streams share forward passes (exl2's dynamic generator does, and
    # a remote server does); a backend that cannot runs its streams one at a time.
    can_batch: bool
    # What the drafts record: the model's id (path, hub id or served name) and a version
    # (a content hash, the adapter's name, or what the server reports).
    model_id: str
    model_version: str
    # Tokens of prompt plus completion the model accepts.
    context_length: int

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Tokens the rendered prompt takes (exact where the backend has a tokenizer)."""
        ...

    def stream(
        self, messages: Sequence[Message], params: GenerationParams
    ) -> AsyncGenerator[GenerationEvent, None]:
        """Yield `TextDelta`s, then exactly one `Finished`. Closing the iterator early
        cancels the generation."""
        ...

    async def aclose(self) -> None: ...


@dataclass(eq=False, kw_only=True)
class ThreadedJob:
    """One stream of a backend whose model runs on its own thread: the thread `post`s
    events, the caller's event loop `relay`s them. Subclasses add the backend's fields."""

    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)
    events: asyncio.Queue[GenerationEvent | BaseException] = field(default_factory=asyncio.Queue)
    started: float = field(default_factory=time.perf_counter)
    first_token: float | None = None
    ended: bool = False  # a Finished or an error was posted

    def post(self, event: GenerationEvent | BaseException) -> None:
        """From any thread."""
        if not isinstance(event, TextDelta):
            self.ended = True
        self.loop.call_soon_threadsafe(self.events.put_nowait, event)

    async def relay(self) -> AsyncGenerator[GenerationEvent, None]:
        """On the caller's loop: the posted events up to the `Finished`; an error raises."""
        while True:
            event = await self.events.get()
            if isinstance(event, BaseException):
                raise event
            yield event
            if isinstance(event, Finished):
                return


def render_transcript(messages: Sequence[Message]) -> str:
    """A plain transcript for models without a chat template."""
    body = "\n\n".join(f"{m.role.capitalize()}: {m.content}" for m in messages)
    return f"{body}\n\nAssistant:"
