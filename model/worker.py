"""The model worker: one loaded `Generator`, fed fairly from many users.

Streams run in slots: as many at once as the backend can batch (`can_batch`), else one.
Waiting jobs queue per user and the next free slot goes round-robin across users, so one
owner's burst of ten drafts cannot starve a teammate's single question. Each job has a
max-new-tokens cap and a wall-clock timeout; cancelling it (closing the stream, or
cancelling the task that reads it) frees its slot or its place in the queue at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncGenerator, Sequence
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
        self._slots = slots
        self._active = 0
        self._waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()
        self._streaming: Counter[int] = Counter()  # jobs per generator (by id)
        self._ended: asyncio.Event | None = None

    @property
    def slots(self) -> int:
        # A backend that cannot batch runs one job at a time whatever `slots` says: more
        # slots would only move the queue (and its fairness) into the backend.
        return (self._slots if self._slots > 0 else 8) if self.generator.can_batch else 1

    def swap(self, generator: Generator) -> Generator:
        """Run new jobs on `generator` from now on. Jobs already streaming finish on the
        old one, which is returned: close it after `drained(old)`."""
        old, self.generator = self.generator, generator
        self._grant()  # a batching backend may have more slots than the old one
        return old

    async def drained(self, generator: Generator) -> None:
        """Wait until no job is streaming from `generator`."""
        while self._streaming[id(generator)]:
            if self._ended is None:
                self._ended = asyncio.Event()
            await self._ended.wait()

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
    ) -> AsyncGenerator[GenerationEvent, None]:
        """The generator's events for this job, once a slot is free. Ends with one
        `Finished`; its reason is "timeout" when the job outlived `timeout` seconds."""
        params = self.capped(params)
        await self._acquire(user)
        try:
            # aclosing: leaving this loop early closes the backend's stream at once (and
            # so stops its generation) before the slot is handed on.
            async with contextlib.aclosing(self._run(messages, params)) as events:
                async for event in events:
                    yield event
        finally:
            self._release()

    def capped(self, params: GenerationParams) -> GenerationParams:
        """`params` with max_new_tokens held to this worker's cap (what a job really gets)."""
        return replace(params, max_new_tokens=min(params.max_new_tokens, self.max_new_tokens))

    async def _run(
        self, messages: Sequence[Message], params: GenerationParams
    ) -> AsyncGenerator[GenerationEvent, None]:
        generator = self.generator  # a swap mid-job leaves this job where it started
        self._streaming[id(generator)] += 1
        try:
            async with contextlib.aclosing(self._events(generator, messages, params)) as events:
                async for event in events:
                    yield event
        finally:
            self._streaming[id(generator)] -= 1
            if not self._streaming[id(generator)]:
                del self._streaming[id(generator)]
            if self._ended is not None:
                self._ended.set()
                self._ended = None

    async def _events(
        self, generator: Generator, messages: Sequence[Message], params: GenerationParams
    ) -> AsyncGenerator[GenerationEvent, None]:
        started = time.perf_counter()
        deadline = asyncio.get_running_loop().time() + self.timeout
        first: float | None = None
        deltas = 0
        async with contextlib.aclosing(generator.stream(messages, params)) as events:
            while True:
                try:
                    # The deadline guards only the wait for the next event, never a
                    # `yield`: a timeout must not fire inside the caller's own code.
                    # (asyncio.timeout, not wait_for, which can lose a cancel on 3.11.)
                    async with asyncio.timeout_at(deadline):
                        event = await anext(events)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    # The backend's stream got the cancellation and stopped generating.
                    # Text deltas stand in for tokens: the backend sent no count.
                    now = time.perf_counter()
                    yield Finished(
                        "timeout",
                        generator.count_tokens(messages),
                        deltas,
                        (first or now) - started,
                        deltas / (now - first) if first and now > first else 0.0,
                    )
                    return
                if isinstance(event, TextDelta):
                    deltas += 1
                    first = first or time.perf_counter()
                yield event

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
            if ticket.done():  # cancelled, its task not yet resumed to withdraw it
                continue
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
