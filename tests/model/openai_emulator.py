"""A small OpenAI-compatible chat-completions server on loopback, for the `openai` backend.

`GET /v1/models` lists `models`; `POST /v1/chat/completions` streams `script` as server-sent
events the way vLLM and TabbyAPI do (a role chunk, content chunks, a finish chunk, a usage
chunk, `data: [DONE]`). Every request body is kept in `requests`; a client that goes away
mid-stream sets `abandoned`. Tests change `script` between requests.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from tests.http_server import serve_on_loopback

Mode = Literal["ok", "drop", "truncate", "error_event", "error", "unauthorized"]


@dataclass
class Script:
    deltas: list[str] = field(default_factory=lambda: ["Hello", ", ", "world", "."])
    # "drop": close the connection after `drop_after` deltas; "truncate": end the HTTP
    # response there cleanly but with no finish_reason and no [DONE]; "error_event": send an
    # `{"error": ...}` event there, as vLLM and TabbyAPI do when decoding fails; "error": HTTP 500;
    # "unauthorized": HTTP 401 on every route.
    mode: Mode = "ok"
    drop_after: int = 2
    finish_reason: str = "stop"
    usage: dict[str, int] | None = field(
        default_factory=lambda: {"prompt_tokens": 21, "completion_tokens": 4, "total_tokens": 25}
    )
    delay: float = 0.0  # seconds before each delta (pacing, as a model would)
    # Write every event in `split` byte pieces, with CRLF line ends and keep-alive comments.
    split: int = 0
    # Stop after this many deltas until `resume` is set (or the client goes away).
    pause_after: int | None = None
    # Hold each stream before its first delta until this many are streaming at once.
    together: int = 0
    error_message: str = "CUDA out of memory while decoding"


class OpenAIEmulator:
    def __init__(self, models: tuple[str, ...] = ("twin-7b", "base-7b")) -> None:
        self.models = models
        self.api_key: str | None = None  # when set, requests must carry it as a Bearer token
        self.max_model_len = 0  # when set, /models reports it as vLLM does
        self.script = Script()
        self.requests: list[dict[str, Any]] = []
        self.authorization: list[str | None] = []
        self.abandoned = asyncio.Event()  # a client closed its stream before the end
        self.resume = asyncio.Event()
        self.paused = asyncio.Event()  # a stream reached `pause_after`
        self.completed = 0  # streams written to the end
        self._streaming = 0
        self._all_streaming = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_get("/v1/models", self._models)
        self.app.router.add_post("/v1/chat/completions", self._chat)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> None:
        # handler_cancellation: a client that hangs up cancels its handler, as in uvicorn.
        self._runner, self.port = await serve_on_loopback(self.app, handler_cancellation=True)

    async def close(self) -> None:
        self.resume.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def _refused(self, request: web.Request) -> web.Response | None:
        sent = request.headers.get("Authorization")
        key_ok = self.api_key is None or sent == f"Bearer {self.api_key}"
        if self.script.mode != "unauthorized" and key_ok:
            return None
        error = {"message": "Invalid API key", "type": "invalid_request_error"}
        return web.json_response({"error": error}, status=401)

    async def _models(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._refused(request)) is not None:
            return refused
        data = [
            {
                "id": m,
                "object": "model",
                "created": 1700000000,
                "owned_by": "emulator",
                **({"max_model_len": self.max_model_len} if self.max_model_len else {}),
            }
            for m in self.models
        ]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.authorization.append(request.headers.get("Authorization"))
        self.requests.append(await request.json())
        if (refused := self._refused(request)) is not None:
            return refused
        script = self.script
        if script.mode == "error":
            error = {"message": script.error_message, "type": "server_error", "code": 500}
            return web.json_response({"error": error}, status=500)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            await self._write_stream(request, response, script)
        except (ConnectionResetError, asyncio.CancelledError):
            self.abandoned.set()
            raise
        return response

    async def _write_stream(
        self, request: web.Request, response: web.StreamResponse, script: Script
    ) -> None:
        model = self.requests[-1].get("model", "")

        async def send(payload: str) -> None:
            if not script.split:
                await response.write(f"data: {payload}\n\n".encode())
                return
            raw = f": keep-alive\r\n\r\ndata: {payload}\r\n\r\n".encode()
            for at in range(0, len(raw), script.split):
                await response.write(raw[at : at + script.split])
                await asyncio.sleep(0)  # let each piece go out on its own

        def chunk(delta: dict[str, str], finish: str | None) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            body = {"object": "chat.completion.chunk", "model": model, "choices": [choice]}
            return json.dumps({**body, "usage": None})

        self._streaming += 1
        if self._streaming >= script.together:
            self._all_streaming.set()
        await self._all_streaming.wait()
        await send(chunk({"role": "assistant", "content": ""}, None))
        for n, text in enumerate(script.deltas):
            if n == script.pause_after:
                self.paused.set()
                await self.resume.wait()
            if script.mode in ("drop", "truncate", "error_event") and n == script.drop_after:
                if script.mode == "error_event":
                    await send(json.dumps({"error": {"message": script.error_message}}))
                elif script.mode == "drop":
                    assert request.transport is not None
                    request.transport.close()  # mid-body: the chunked encoding never ends
                return
            if script.delay:
                await asyncio.sleep(script.delay)
            await send(chunk({"content": text}, None))
        await send(chunk({}, script.finish_reason))
        if script.usage is not None:
            usage = {"object": "chat.completion.chunk", "choices": [], "usage": script.usage}
            await send(json.dumps(usage))
        await send("[DONE]")
        self.completed += 1


@contextmanager
def emulator_thread(models: tuple[str, ...] = ("twin",)) -> Iterator[OpenAIEmulator]:
    """The emulator on its own loop and thread, for code that runs its own loop (the CLI
    in-process) or another process (a child reaches it over loopback)."""
    loop = asyncio.new_event_loop()
    server = OpenAIEmulator(models=models)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
