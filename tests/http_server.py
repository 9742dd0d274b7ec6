"""A real HTTP server on loopback for tests: routes are plain aiohttp handlers.

Tests add routes, then use `server.url("/path")`. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
if not FIXTURES.is_dir():  # a clean clone in CI has shared/ beside it; allow an override
    import os

    FIXTURES = Path(os.environ.get("TWIN_FIXTURES", "../shared/fixtures")).resolve()


async def serve_on_loopback(app: web.Application, **options: Any) -> tuple[web.AppRunner, int]:
    """Serve `app` on 127.0.0.1 at a free port: its runner (to clean up) and the port."""
    runner = web.AppRunner(app, access_log=None, **options)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None and server.sockets  # type: ignore[attr-defined]
    return runner, server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]


class LocalServer:
    def __init__(self) -> None:
        self.app = web.Application()
        self._routes: dict[tuple[str, str], Handler] = {}
        self.hits: dict[str, int] = {}
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.hits[request.path] = self.hits.get(request.path, 0) + 1
        handler = self._routes.get((request.method, request.path)) or self._routes.get(
            ("*", request.path)
        )
        if handler is None:
            raise web.HTTPNotFound()
        return await handler(request)

    def route(self, path: str, handler: Handler, method: str = "*") -> str:
        self._routes[(method, path)] = handler
        return self.url(path)

    def page(
        self,
        path: str,
        body: str | bytes,
        content_type: str = "text/html",
        charset: str | None = "utf-8",
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> str:
        """Serve fixed bytes at `path`; returns its full URL."""
        data = body.encode(charset or "utf-8") if isinstance(body, str) else body
        ctype = f"{content_type}; charset={charset}" if charset else content_type

        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(
                body=data, status=status, headers={"Content-Type": ctype, **(headers or {})}
            )

        return self.route(path, handler)

    def fixture_page(self, name: str, path: str | None = None) -> str:
        """Serve one of ../shared/fixtures/pages/<name> as text/html."""
        body = (FIXTURES / "pages" / name).read_bytes()
        return self.page(path or f"/{name}", body, charset=None)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        self._runner, self.port = await serve_on_loopback(self.app)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class ThreadedServer(LocalServer):
    """The same server on its own event loop in a thread, for tests that are synchronous
    themselves (the CLI runs `asyncio.run`)."""

    def start_in_thread(self) -> None:
        import asyncio
        import threading

        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self.start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="test-http", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("test HTTP server did not start")

    def stop(self) -> None:
        import asyncio

        asyncio.run_coroutine_threadsafe(self.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
