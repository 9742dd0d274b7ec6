"""What the chat emulators share: a log of the API calls they received, and a way to
wait for one without sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

C = TypeVar("C")


class CallLog(Generic[C]):
    def __init__(self) -> None:
        self.calls: list[C] = []
        self._changed = asyncio.Condition()

    async def wait_for(self, predicate: Callable[[C], bool], within: float = 60.0) -> C:
        """The first recorded call matching `predicate`, waiting for it if need be."""

        def found() -> C | None:
            return next((c for c in self.calls if predicate(c)), None)

        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: found() is not None)
        call = found()
        assert call is not None
        return call
