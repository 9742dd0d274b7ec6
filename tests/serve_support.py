"""`llm-twin serve` running in a background thread with its own event loop, as the real
process runs it, for tests that drive it over HTTP or from a browser."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from bot.config import load_config
from bot.serve import serve
from model.generator import Generator
from tests.chat_support import SHORT_DRAFTS


@dataclass
class Running:
    started: dict[str, str]
    loop: asyncio.AbstractEventLoop
    stop: asyncio.Event

    @property
    def page(self) -> str:
        return self.started["web page"]

    @property
    def base(self) -> str:
        return self.page.split("/#", 1)[0]

    @property
    def token(self) -> str:
        return self.page.split("#token=", 1)[1]


@contextmanager
def running_serve(
    generator: Generator | None, overrides: Mapping[str, str] | None = None
) -> Iterator[Running]:
    """`serve` in a thread; `generator` None loads `[model]` as the real process does."""
    config = load_config({**SHORT_DRAFTS, "web.port": "0", **(overrides or {})})
    ready = threading.Event()
    box: dict[str, object] = {}

    def run() -> None:
        async def main() -> None:
            stop = asyncio.Event()
            box["loop"], box["stop"] = asyncio.get_running_loop(), stop

            def on_ready(started: dict[str, str]) -> None:
                box["started"] = started
                ready.set()

            await serve(config, stop=stop, on_ready=on_ready, generator=generator)

        try:
            asyncio.run(main())
        except BaseException as exc:
            box["error"] = exc
            ready.set()

    thread = threading.Thread(target=run, name="serve", daemon=True)
    thread.start()
    assert ready.wait(120), "serve did not start"
    if "error" in box:
        raise AssertionError(f"serve failed: {box['error']!r}")
    running = Running(box["started"], box["loop"], box["stop"])  # type: ignore[arg-type]
    try:
        yield running
    finally:
        running.loop.call_soon_threadsafe(running.stop.set)
        thread.join(60)
        assert not thread.is_alive(), "serve did not stop"
        if "error" in box:
            raise AssertionError(f"serve failed: {box['error']!r}")
