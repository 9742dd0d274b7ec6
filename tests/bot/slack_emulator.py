"""A Slack Web API emulator on loopback, and a client that sends signed Slack requests.

`SlackEmulator` answers what the adapter calls (auth.test, chat.postMessage, chat.update,
chat.postEphemeral, views.open, apps.connections.open), plus `response_url` POSTs and a
Socket Mode websocket; it records every call with its parameters, assigns message `ts`
values, keeps each message's latest text and blocks, refuses posts to channels the bot is
not in (`not_in`) or cannot see (`unknown`), and can answer a method with HTTP 429
+ `Retry-After` once. Tests wait on recorded calls (`wait_for`) rather than sleeping.

`SlackSender` plays Slack's side of HTTP events: form-encoded slash commands, JSON event
callbacks and `payload=` interactions, signed the way Slack signs them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from tests.call_log import CallLog

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
SIGNING_SECRET = "test-signing-secret"
BOT_USER = "UBOT"
BOT_NAME = "twin"
TEAM = "T1"


@dataclass
class ApiCall:
    method: str  # a Web API method, or "response_url"
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    status: int = 200
    ts: str = ""  # the message it created or changed

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def blocks(self) -> list[dict[str, Any]]:
        blocks = self.params.get("blocks") or []
        return list(json.loads(blocks) if isinstance(blocks, str) else blocks)


@dataclass
class Envelope:
    """A Socket Mode delivery and the app's acknowledgement of it."""

    id: str
    acked: asyncio.Future[dict[str, Any]]


class SlackEmulator(CallLog[ApiCall]):
    def __init__(self) -> None:
        super().__init__()
        self.messages: dict[tuple[str, str], ApiCall] = {}  # (channel, ts) -> latest state
        self.not_in: set[str] = set()  # channels the bot is not a member of
        self.unknown: set[str] = set()  # channel ids the bot cannot see at all
        self._fail: dict[str, float] = {}  # method -> Retry-After for its next call
        self._ts = itertools.count(1)
        self._sockets: list[web.WebSocketResponse] = []
        self._connected = asyncio.Event()
        self._envelopes: dict[str, Envelope] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_post("/respond/{key}", self._respond)
        app.router.add_get("/socket", self._socket)
        self.app = app

    # --- set-up --------------------------------------------------------------------------

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        for socket in self._sockets:
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, key: str = "r1") -> str:
        return f"http://127.0.0.1:{self.port}/respond/{key}"

    def rate_limit_once(self, method: str, retry_after: float = 1) -> None:
        """The next call of `method` gets HTTP 429, `Retry-After: retry_after`."""
        self._fail[method] = retry_after

    # --- what happened -------------------------------------------------------------------

    def calls_to(self, *methods: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method in methods]

    # --- the Web API ---------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.content_type == "application/json":
            params = dict(await request.json())
        else:
            params = dict(await request.post())
        params |= dict(request.query)
        call = ApiCall(method, params)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if (wait := self._fail.pop(method, None)) is not None:
            call.status = 429
            await self._record(call)
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": f"{wait:g}"},
            )
        expected = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        body = self._answer(call) if token == expected else {"ok": False, "error": "invalid_auth"}
        await self._record(call)
        return web.json_response(body)

    def _answer(self, call: ApiCall) -> dict[str, Any]:
        p = call.params
        match call.method:
            case "auth.test":
                return {
                    "ok": True,
                    "user_id": BOT_USER,
                    "user": BOT_NAME,
                    "team_id": TEAM,
                    "bot_id": "B1",
                }
            case "apps.connections.open":
                return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}
            case "chat.postMessage" | "chat.postEphemeral":
                if p.get("channel") in self.not_in:
                    return {"ok": False, "error": "not_in_channel"}
                if p.get("channel") in self.unknown:
                    return {"ok": False, "error": "channel_not_found"}
                if not p.get("text") and not p.get("blocks"):
                    return {"ok": False, "error": "no_text"}
                call.ts = f"{1_700_000_000 + next(self._ts)}.000100"
                if call.method == "chat.postEphemeral":
                    return {"ok": True, "message_ts": call.ts}
                self.messages[(str(p["channel"]), call.ts)] = call
                return {"ok": True, "channel": p["channel"], "ts": call.ts}
            case "chat.update":
                key = (str(p.get("channel")), str(p.get("ts")))
                if key not in self.messages:
                    return {"ok": False, "error": "message_not_found"}
                call.ts = key[1]
                self.messages[key] = call
                return {"ok": True, "channel": key[0], "ts": key[1]}
            case "views.open":
                if not p.get("trigger_id") or not p.get("view"):
                    return {"ok": False, "error": "invalid_arguments"}
                return {"ok": True, "view": {"id": "V1"}}
        return {"ok": False, "error": "unknown_method"}

    async def _respond(self, request: web.Request) -> web.Response:
        await self._record(ApiCall("response_url", dict(await request.json())))
        return web.Response(text="ok")

    async def _record(self, call: ApiCall) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    # --- Socket Mode ---------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self._sockets.append(socket)
        self._connected.set()
        await socket.send_json({"type": "hello", "num_connections": 1})
        async for message in socket:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            envelope = self._envelopes.get(str(data.get("envelope_id")))
            if envelope is not None and not envelope.acked.done():
                envelope.acked.set_result(data)
        return socket

    async def deliver(self, kind: str, payload: dict[str, Any], within: float = 10) -> float:
        """Send a Socket Mode envelope (kind: slash_commands, events_api, interactive);
        seconds until the app acknowledged it."""
        await asyncio.wait_for(self._connected.wait(), within)
        envelope = Envelope(f"e{next(self._ts)}", asyncio.get_running_loop().create_future())
        self._envelopes[envelope.id] = envelope
        started = time.perf_counter()
        await self._sockets[-1].send_json(
            {
                "envelope_id": envelope.id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": kind != "events_api",
            }
        )
        await asyncio.wait_for(envelope.acked, within)
        return time.perf_counter() - started


# --- Slack's side of HTTP events -------------------------------------------------------


def signature_headers(
    body: str, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """What Slack adds: v0=HMAC-SHA256(secret, "v0:{ts}:{body}") and the timestamp."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Signature": f"v0={digest}", "X-Slack-Request-Timestamp": ts}


@dataclass
class Sent:
    status: int
    body: str
    seconds: float


class SlackSender:
    def __init__(self, url: str, session: aiohttp.ClientSession, emulator: SlackEmulator) -> None:
        self.url = url
        self.session = session
        self.emulator = emulator
        self._ids = itertools.count(1)

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        secret: str = SIGNING_SECRET,
        timestamp: int | None = None,
    ) -> Sent:
        headers = {"Content-Type": content_type, **signature_headers(body, secret, timestamp)}
        started = time.perf_counter()
        async with self.session.post(self.url, data=body.encode(), headers=headers) as response:
            text = await response.text()
            return Sent(response.status, text, time.perf_counter() - started)

    def command_fields(
        self, text: str, *, user: str = "U1", channel: str = "C1", command: str = "/twin"
    ) -> dict[str, str]:
        return {
            "token": "legacy",
            "team_id": TEAM,
            "team_domain": "twin",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": f"name-{user}",
            "command": command,
            "text": text,
            "api_app_id": "A1",
            "response_url": self.emulator.response_url(f"cmd-{next(self._ids)}"),
            "trigger_id": f"trigger-{next(self._ids)}",
        }

    async def command(self, text: str, **kwargs: Any) -> Sent:
        """A slash command, form-encoded as Slack sends it."""
        fields = self.command_fields(text, **kwargs)
        return await self.post(urlencode(fields), "application/x-www-form-urlencoded")

    async def event(self, event: dict[str, Any], **kwargs: Any) -> Sent:
        """An Events API event_callback (JSON)."""
        body = {
            "token": "legacy",
            "team_id": TEAM,
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": f"Ev{next(self._ids)}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
            "event": event,
        }
        return await self.post(json.dumps(body), "application/json", **kwargs)

    async def interaction(self, payload: dict[str, Any], **kwargs: Any) -> Sent:
        """block_actions / view_submission: form-encoded `payload=<json>`."""
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded", **kwargs)

    def click(
        self, action_id: str, draft_id: str, *, user: str = "U1", channel: str = "C1", ts: str = ""
    ) -> dict[str, Any]:
        """A block_actions payload for one button of a message."""
        return {
            "type": "block_actions",
            "team": {"id": TEAM, "domain": "twin"},
            "user": {"id": user, "username": f"name-{user}", "team_id": TEAM},
            "api_app_id": "A1",
            "token": "legacy",
            "container": {"type": "message", "message_ts": ts, "channel_id": channel},
            "trigger_id": f"trigger-{next(self._ids)}",
            "channel": {"id": channel, "name": "general"},
            "message": {"type": "message", "ts": ts, "text": "draft"},
            "response_url": self.emulator.response_url(f"act-{next(self._ids)}"),
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "twin_feedback",
                    "value": draft_id,
                    "action_ts": str(time.time()),
                }
            ],
        }
