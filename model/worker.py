"""The model worker: one loaded `Generator`, fed fairly from many users.

Streams run in slots: as many at once as the backend can batch (`can_batch`), else one.
Waiting jobs queue per user and the next free slot goes round-robin across users, so one
owner's burst of ten drafts cannot starve a teammate's single question. Each job has a
max-new-tokens cap and a wall-clock timeout; cancelling it (closing the stream, or
cancelling the task that reads it) frees its slot or its place in the queue at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from model.generator import (
    Finished,
    GenerationEvent,
    GenerationParams,
    Generator,
    Message,
    TextDelta,
)


class ModelWorker:
    def __init__(
        self,
        generator: Generator,
        *,
        timeout: float = 600.0,
        max_new_tokens: int = 1024,
        slots: int = 0,
    ) -> None:
        self.generator = generator
        self.timeout = timeout
        self.max_new_tokens = max_new_tokens
        self.slots = slots if slots > 0 else (8 if generator.can_batch else 1)
        self._active = 0
        self._waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()

    @property
    def active(self) -> int:
        return self._active

    def queued(self, user: str | None = None) -> int:
        """Jobs waiting for a slot (of one user, or all)."""
        if user is not None:
            return len(self._waiting.get(user, ()))
        return sum(len(q) for q in self._waiting.values())

    async def stream(
        self, user: str, messages: Sequence[Message], params: GenerationParams
    ) -> AsyncIterator[GenerationEvent]:
        """The generator's events for this job, once a slot is free. Ends with one
        `Finished`; its reason is "timeout" when the job outlived `timeout` seconds."""
        params = replace(params, max_new_tokens=min(params.max_new_tokens, self.max_new_tokens))
        await self._acquire(user)
        try:
            async for event in self._run(messages, params):
                yield event
        finally:
            self._release()

    async def _run(
        self, messages: Sequence[Message], params: GenerationParams
    ) -> AsyncIterator[GenerationEvent]:
        started = time.perf_counter()
        deadline = started + self.timeout
        first: float | None = None
        deltas = 0
        events = self.generator.stream(messages, params)
        try:
            while True:
                remaining = deadline - time.perf_counter()
                try:
                    if remaining <= 0:
                        raise TimeoutError
                    event = await asyncio.wait_for(anext(events), remaining)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    now = time.perf_counter()
                    yield Finished(
                        "timeout",
                        self.generator.count_tokens(messages),
                        deltas,
                        (first or now) - started,
                        deltas / (now - first) if first and now > first else 0.0,
                    )
                    return
                if isinstance(event, TextDelta):
                    deltas += 1
                    first = first or time.perf_counter()
                yield event
                if isinstance(event, Finished):
                    return
        finally:
            await events.aclose()  # stops the backend's generation if we left early

    # --- slots and the fair queue -------------------------------------------------------

    async def _acquire(self, user: str) -> None:
        if self._active < self.slots and not self._waiting:
            self._active += 1
            return
        ticket: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(user, deque()).append(ticket)
        try:
            await ticket  # `_grant` takes the slot on our behalf
        except asyncio.CancelledError:
            if ticket.done() and not ticket.cancelled():
                self._release()  # granted just as we were cancelled: hand it on
            else:
                self._forget(user, ticket)
            raise

    def _release(self) -> None:
        self._active -= 1
        self._grant()

    def _grant(self) -> None:
        while self._active < self.slots and self._waiting:
            user, tickets = self._waiting.popitem(last=False)
            ticket = tickets.popleft()
            if tickets:  # back of the line: the other users go first
                self._waiting[user] = tickets
            self._active += 1
            ticket.set_result(None)

    def _forget(self, user: str, ticket: asyncio.Future[None]) -> None:
        tickets = self._waiting.get(user)
        if tickets is None:
            return
        if ticket in tickets:
            tickets.remove(ticket)
        if not tickets:
            del self._waiting[user]
