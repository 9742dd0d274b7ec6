"""A small client for the web API of a real `serve` on loopback: JSON calls that check
the status, server-sent events read to the end, and refusals read as their JSON error."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from tests.serve_support import Running


class Api:
    def __init__(self, http: aiohttp.ClientSession, token: str) -> None:
        self.http = http
        self.auth = {"Authorization": f"Bearer {token}"}

    async def json(self, method: str, path: str, body: Any = None, *, status: int = 200) -> Any:
        async with self.http.request(method, path, json=body, headers=self.auth) as r:
            answer = await r.json()
            assert r.status == status, (r.status, answer)
            assert r.headers["Content-Type"].startswith("application/json")
            return answer

    async def error(self, method: str, path: str, body: Any = None, *, status: int) -> str:
        """The one-line reason of a refusal (checked to be JSON with that status)."""
        answer = await self.json(method, path, body, status=status)
        assert set(answer) <= {"error", "key"}, answer
        reason: str = answer["error"]
        assert reason and "\n" not in reason and "Traceback" not in reason
        return reason

    async def events(self, method: str, path: str, body: Any = None, **kw: Any) -> list[Any]:
        """Every event of a stream up to its end (the `end` event itself left out)."""
        kw.setdefault("json", body)
        async with self.http.request(method, path, headers=self.auth, **kw) as r:
            assert r.status == 200, (r.status, await r.text())
            assert r.headers["Content-Type"] == "text/event-stream"
            return await read_events(r)

    def said(self, events: list[Any]) -> str:
        return "\n".join(e.get("text", "") for e in events if e["type"] in ("say", "error"))


async def read_events(response: aiohttp.ClientResponse) -> list[Any]:
    seen: list[Any] = []
    buffer = b""
    async for chunk in response.content.iter_any():
        buffer += chunk
        while b"\n\n" in buffer:
            raw, buffer = buffer.split(b"\n\n", 1)
            assert raw.startswith(b"data: ")
            event = json.loads(raw[6:])
            if event == {"type": "end"}:
                return seen
            seen.append(event)
    raise AssertionError(f"the stream ended without an end event after {seen}")


@asynccontextmanager
async def api_of(srv: Running) -> AsyncIterator[Api]:
    # Long enough for a short training run followed to its end on a busy machine.
    async with aiohttp.ClientSession(srv.base, timeout=aiohttp.ClientTimeout(total=1200)) as http:
        yield Api(http, srv.token)
