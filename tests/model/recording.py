"""A real generator wrapped so a test can read exactly what reached the model."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import ClassVar

from model.generator import GenerationEvent, GenerationParams, Generator, Message


class RecordingGenerator:
    backend: ClassVar[str] = "hf"
    can_batch: bool = False

    def __init__(self, inner: Generator) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.model_version = inner.model_version
        self.context_length = inner.context_length
        self.calls: list[tuple[list[Message], GenerationParams]] = []

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return self.inner.count_tokens(messages)

    async def stream(
        self, messages: Sequence[Message], params: GenerationParams
    ) -> AsyncGenerator[GenerationEvent, None]:
        self.calls.append((list(messages), params))
        events = self.inner.stream(messages, params)
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()

    async def aclose(self) -> None:
        """The wrapped model belongs to the session fixture."""
