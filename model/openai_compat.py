"""`openai`: any OpenAI-compatible chat-completions server (TabbyAPI, vLLM, llama.cpp).

Unlike `hf` and `exl2`, no worker here owns the model: a server does, and it batches
concurrent requests itself. So each `stream` is one HTTP request read as server-sent events,
`can_batch` is True, and closing a stream closes its connection, which is how these servers
learn to stop generating. Servers expose no common tokenizer endpoint, so `count_tokens` is
an estimate.
"""

from __future__ import annotations

import codecs
import json
import math
import os
import re
import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import aiohttp

from core.errors import ConfigError, GenerationError
from model.generator import (
    Finished,
    FinishReason,
    GenerationEvent,
    GenerationParams,
    Message,
    TextDelta,
)
from model.settings import ModelSettings

_EOL = re.compile(r"\r\n|\r|\n")
_FINISH: dict[str, FinishReason] = {"stop": "stop", "length": "length"}


@dataclass
class _Reply:
    """What one streamed reply has said so far."""

    started: float
    first: float | None = None  # when the first text arrived
    deltas: int = 0
    reason: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    complete: bool = False  # finish_reason or [DONE] seen: nothing left to generate

    def take_text(self, event: dict[str, Any]) -> str | None:
        """The event's text, if any; its usage figures are kept."""
        if isinstance(event.get("usage"), dict):
            self.usage = event["usage"]
        text = (_first_choice(event).get("delta") or {}).get("content")
        if not isinstance(text, str) or not text:
            return None
        self.first = self.first or time.perf_counter()
        self.deltas += 1
        return text

    def take_finish(self, event: dict[str, Any]) -> None:
        # Taken after the event's text is handed on: a caller that stops at that text
        # leaves the reply incomplete, so its connection is closed.
        choice = _first_choice(event)
        if choice.get("finish_reason"):
            self.reason = str(choice["finish_reason"])
            self.complete = True


class OpenAIGenerator:
    backend: ClassVar[str] = "openai"
    can_batch: bool = True

    @classmethod
    async def from_settings(
        cls, settings: ModelSettings, *, cache_dir: Path, api_key: str | None = None
    ) -> OpenAIGenerator:
        """Reach the server `[model]` names (its API key comes from the environment)."""
        del cache_dir  # the server holds the weights
        return await cls.connect(
            settings.url, settings.name, api_key=api_key, context_length=settings.max_seq_len
        )

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        model_id: str,
        version: str,
        context: int,
    ) -> None:
        """Use `connect`, which checks the server and the model before returning one."""
        self._session, self.base_url = session, base_url
        self.model_id, self.model_version, self.context_length = model_id, version, context

    @classmethod
    async def connect(
        cls,
        base_url: str,
        model: str = "",
        *,
        api_key: str | None = None,
        context_length: int = 8192,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
    ) -> OpenAIGenerator:
        """Reach the server and pick `model` (or the first one it serves); a server that is
        down, refuses the key or lacks the model fails start-up with a ConfigError."""
        # Used as given: TabbyAPI and vLLM serve under /v1, but a proxy may not.
        base = base_url.strip().rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise ConfigError(f"model.url {base_url!r} must start with http:// or https://")
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        session = aiohttp.ClientSession(timeout=timeout, headers=headers)
        try:
            try:
                async with session.get(f"{base}/models") as response:
                    if response.status != 200:
                        error = _status_error(response.status, await response.text(), base)
                        if isinstance(error, ConfigError):
                            raise error
                        raise ConfigError(f"{error}; see its log, or fix model.url")
                    listing = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise ConfigError(
                    f"cannot reach the model server at {base} ({_reason(exc)}); "
                    "start it or fix model.url"
                ) from exc
            except ValueError:  # not JSON: refused just below
                listing = None
            models = _served_models(listing, base)
            if model and model not in models:
                raise ConfigError(
                    f"model {model!r} is not served by {base}; it serves "
                    f"{', '.join(models)}: set model.name to one of them"
                )
            chosen = model or next(iter(models))
            owner = models[chosen].get("owned_by")
            # Only owned_by: `created` is the time of the request on vLLM and llama.cpp.
            version = owner if isinstance(owner, str) and owner else "remote"
            # vLLM reports the served window; trust it over the configured figure.
            served = models[chosen].get("max_model_len")
            if isinstance(served, int) and served > 0:
                context_length = min(context_length, served)
            return cls(session, base, chosen, version, context_length)
        except BaseException:
            await session.close()
            raise

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """An estimate (no tokenizer here), on the safe side: 3 characters a token (English
        prose averages ~4; code and other scripts run denser), plus 8 per message for the
        chat template's role markers."""
        chars = sum(len(m.content) for m in messages)
        return math.ceil(chars / 3) + 8 * len(messages)

    async def stream(
        self, messages: Sequence[Message], params: GenerationParams
    ) -> AsyncGenerator[GenerationEvent, None]:
        body = self._request_body(messages, params)
        reply = _Reply(started=time.perf_counter())
        response = await self._post(body)
        try:
            if response.status != 200:
                raise _status_error(response.status, await response.text(), self.base_url)
            sse = SSEDecoder()
            done = False
            while not done:
                try:
                    chunk = await response.content.readany()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    if reply.complete:
                        break
                    raise self._cut_off(_reason(exc)) from exc
                # At EOF an event with no closing blank line is dropped, as the spec says.
                for payload in sse.feed(chunk):
                    if payload.strip() == "[DONE]":
                        done = reply.complete = True
                        break
                    event = self._parse_chunk(payload)
                    if (text := reply.take_text(event)) is not None:
                        yield TextDelta(text)
                    reply.take_finish(event)
                if not chunk:
                    break
            if not reply.complete:
                raise self._cut_off("the stream ended before the reply did")
        finally:
            if reply.complete:
                response.release()
            else:  # an error, or the caller stopped listening: make the server stop
                response.close()
        yield self._finished(reply, messages)

    async def _post(self, body: Any) -> aiohttp.ClientResponse:
        try:
            return await self._session.post(f"{self.base_url}/chat/completions", json=body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise GenerationError(
                f"cannot reach the model server at {self.base_url} ({_reason(exc)}); "
                "start it and retry"
            ) from exc

    def _finished(self, reply: _Reply, messages: Sequence[Message]) -> Finished:
        """The stream's last event: the server's token counts where it sent usage, else
        the deltas counted and the estimate."""
        ended = time.perf_counter()
        completion = _int(reply.usage.get("completion_tokens"), reply.deltas)
        decoding = ended - reply.first if reply.first is not None else 0.0
        return Finished(
            finish_reason=_FINISH.get(reply.reason or "stop", "stop"),
            prompt_tokens=_int(reply.usage.get("prompt_tokens"), self.count_tokens(messages)),
            completion_tokens=completion,
            time_to_first_token=(reply.first or ended) - reply.started,
            tokens_per_second=completion / decoding if decoding > 0 else 0.0,
        )

    async def aclose(self) -> None:
        await self._session.close()

    def _request_body(self, messages: Sequence[Message], params: GenerationParams) -> Any:
        body: dict[str, Any] = {
            "model": self.model_id,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            # Not OpenAI fields, but vLLM, TabbyAPI and llama.cpp read them.
            "top_k": params.top_k,
            "repetition_penalty": params.repetition_penalty,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        return body

    def _parse_chunk(self, payload: str) -> dict[str, Any]:
        try:
            event = json.loads(payload)
        except ValueError as exc:
            raise GenerationError(
                f"the model server at {self.base_url} sent a malformed event "
                f"({_one_line(payload)}); retry"
            ) from exc
        if not isinstance(event, dict) or event.get("error") or event.get("object") == "error":
            raise GenerationError(
                f"the model server at {self.base_url} failed mid-reply: {_error_message(event)}"
            )
        return event

    def _cut_off(self, why: str) -> GenerationError:
        return GenerationError(
            f"the model server at {self.base_url} cut the draft off ({why}); retry"
        )


class SSEDecoder:
    """Server-sent events, incrementally: bytes as they arrive in, each event's `data` out.
    Lines may end in CRLF, LF or CR; comments (`:`) and other fields are skipped."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._buffer = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[str]:
        self._buffer += self._utf8.decode(chunk)
        events: list[str] = []
        while (end := _EOL.search(self._buffer)) is not None:
            if end.group() == "\r" and end.end() == len(self._buffer):
                break  # maybe the first half of a CRLF
            line, self._buffer = self._buffer[: end.start()], self._buffer[end.end() :]
            if line == "":
                if self._data:
                    events.append("\n".join(self._data))
                    self._data = []
            else:  # a comment (":...") has the empty field name, which is ignored
                field, _, value = line.partition(":")
                if field == "data":
                    self._data.append(value.removeprefix(" "))
        return events


def _served_models(listing: Any, base: str) -> dict[str, dict[str, Any]]:
    entries = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(
            f"{base}/models did not answer an OpenAI model list; model.url must point at an "
            "OpenAI-compatible API (usually ending in /v1)"
        )
    models = {str(e["id"]): e for e in entries if isinstance(e, dict) and e.get("id")}
    if not models:
        raise ConfigError(f"the model server at {base} serves no models; load one and restart")
    return models


def _status_error(status: int, text: str, base: str) -> ConfigError | GenerationError:
    try:
        message = _error_message(json.loads(text))
    except ValueError:
        message = _one_line(text) or "no message"
    if status in (401, 403):
        return ConfigError(
            f"the model server at {base} refused the API key (HTTP {status}: {message}); "
            "set TWIN_MODEL__API_KEY"
        )
    if status == 404:  # a wrong path, or (vLLM) a model it does not serve
        return ConfigError(
            f"the model server at {base} answered HTTP 404 ({message}); check model.url "
            "(usually ending in /v1) and model.name"
        )
    return GenerationError(f"the model server at {base} answered HTTP {status}: {message}")


def _error_message(body: Any) -> str:
    """The message in OpenAI's `{"error": {"message"}}` or the shapes vLLM and FastAPI use."""
    if isinstance(body, dict):
        error = body.get("error")
        for found in (
            error.get("message") if isinstance(error, dict) else error,
            body.get("message"),
            body.get("detail"),
        ):
            if found:
                return _one_line(str(found))
    return _one_line(json.dumps(body))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):  # errno: not "Connect call failed"
        code, error = exc.os_error.errno, exc.os_error
        return os.strerror(code) if code and code > 0 else error.strerror or str(error)
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the connection dropped mid-reply"
    return _one_line(str(exc)) or type(exc).__name__


def _first_choice(event: dict[str, Any]) -> dict[str, Any]:
    choices = event.get("choices")
    first = choices[0] if isinstance(choices, list) and choices else None
    return first if isinstance(first, dict) else {}


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default
