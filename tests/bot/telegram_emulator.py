"""A small Telegram Bot API on loopback, for running the real python-telegram-bot in tests.

It implements what PTB calls for the adapter (getMe, getUpdates as a long poll,
sendMessage, editMessageText, sendChatAction, answerCallbackQuery, setMyCommands,
setWebhook, deleteWebhook), checks messages as Telegram does (empty, over 4096, HTML it
cannot parse, edits that change nothing), records every call, and can be told to fail a
method once (flood control, rejected HTML) or to refuse a chat for good (chat not found, the
bot blocked). Tests push updates and wait on recorded calls.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

from bot.chat.telegram.markup import MESSAGE_LIMIT, text_size
from tests.call_log import CallLog

BOT_ID = 100000
_JSON_FIELDS = {"reply_markup", "link_preview_options", "allowed_updates", "commands", "entities"}
_INT_FIELDS = {"chat_id", "message_id", "offset", "timeout", "limit", "user_id"}
_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre"}
# Methods whose whole answer is `true`.
_ACKNOWLEDGED = {
    "sendChatAction",
    "answerCallbackQuery",
    "setMyCommands",
    "setWebhook",
    "deleteWebhook",
}
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float  # loop time
    status: int = 200
    result: Any = None

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class _Failure:
    status: int
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    html_only: bool = False


class TelegramHTMLError(ValueError):
    pass


class _Visible(HTMLParser):
    """Telegram's HTML rules, roughly: known tags, balanced, `<>&` escaped in text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.text: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _TAGS or (tag == "a" and not dict(attrs).get("href")):
            raise TelegramHTMLError(f'Unsupported start tag "{tag}"')
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            raise TelegramHTMLError(f'Unmatched end tag "{tag}"')

    def handle_data(self, data: str) -> None:
        if "<" in data or ">" in data:
            raise TelegramHTMLError("Unescaped < or > in text")
        self.text.append(data)

    def handle_entityref(self, name: str) -> None:
        if name not in _ENTITIES:
            raise TelegramHTMLError(f"Unsupported HTML entity &{name};")
        self.text.append(_ENTITIES[name])

    def handle_charref(self, name: str) -> None:
        self.text.append(chr(int(name[1:], 16) if name[0] in "xX" else int(name)))


def visible_text(text: str, parse_mode: str | None) -> str:
    if (parse_mode or "").upper() != "HTML":
        return text
    parser = _Visible()
    parser.feed(text)
    parser.close()
    if parser.open:
        raise TelegramHTMLError(
            f'Can\'t find end tag corresponding to start tag "{parser.open[-1]}"'
        )
    return "".join(parser.text)


class TelegramEmulator(CallLog[Call]):
    def __init__(self, token: str = "123456:TEST-emulated-token", username: str = "twin_test_bot"):
        self.token = token
        self.username = username
        super().__init__()
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._updates: list[dict[str, Any]] = []
        self._update_id = 0
        self._message_ids: dict[int, int] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._refused_chats: dict[int, _Failure] = {}  # chat id -> every call's answer
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """What goes in telegram.base_url (PTB appends the token, then /method)."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def bot_user(self) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Twin", "username": self.username}

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        self._closing = True
        async with self._changed:
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- what tests do ------------------------------------------------------------------

    def fail_once(
        self,
        method: str,
        status: int,
        description: str,
        parameters: dict[str, Any] | None = None,
        *,
        html_only: bool = False,
    ) -> None:
        """Answer the next call of `method` (with parse_mode HTML, if `html_only`) so."""
        failure = _Failure(status, description, parameters or {}, html_only)
        self._failures.setdefault(method, []).append(failure)

    def flood_once(self, method: str, retry_after: int = 1) -> None:
        self.fail_once(
            method,
            429,
            f"Too Many Requests: retry after {retry_after}",
            {"retry_after": retry_after},
        )

    def reject_html_once(self, method: str) -> None:
        self.fail_once(
            method,
            400,
            'Bad Request: can\'t parse entities: Unsupported start tag "b" at byte offset 0',
            html_only=True,
        )

    def lose_chat(self, chat_id: int) -> None:
        """A chat the bot is not in (or that never existed): "chat not found" from now on."""
        self._refused_chats[chat_id] = _Failure(400, "Bad Request: chat not found")

    def block_bot(self, chat_id: int) -> None:
        """The user of a private chat blocked the bot: 403 from now on."""
        self._refused_chats[chat_id] = _Failure(403, "Forbidden: bot was blocked by the user")

    def user(self, user_id: int, name: str = "Sam") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": name, "username": f"user{user_id}"}

    async def push(self, update: dict[str, Any]) -> int:
        """Queue an update (any shape) for getUpdates; returns its update_id."""
        self._update_id += 1
        self._updates.append({"update_id": self._update_id, **update})
        async with self._changed:
            self._changed.notify_all()
        return self._update_id

    async def push_message(self, user_id: int, text: str, *, reply_to: int | None = None) -> int:
        """A private message from `user_id`, optionally replying to a message in that chat;
        returns the new message's id."""
        message = self._message(user_id, self.user(user_id), text)
        if reply_to is not None:
            message["reply_to_message"] = self._public(self.messages[(user_id, reply_to)])
        await self.push({"message": message})
        return int(message["message_id"])

    async def press(
        self, user_id: int, message_id: int, data: str, *, chat_id: int | None = None
    ) -> int:
        """The user presses an inline button with `data` under a message in their chat (or
        in the group `chat_id`)."""
        chat = user_id if chat_id is None else chat_id
        return await self.push(
            {
                "callback_query": {
                    "id": f"cq{self._update_id + 1}",
                    "from": self.user(user_id),
                    "chat_instance": f"ci{chat}",
                    "message": self._public(self.messages[(chat, message_id)]),
                    "data": data,
                }
            }
        )

    def find(self, method: str, chat_id: int | None = None, *, ok: bool = True) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.method == method
            and (chat_id is None or c.params.get("chat_id") == chat_id)
            and (not ok or c.ok)
        ]

    def text_of(self, chat_id: int, message_id: int) -> str:
        return str(self.messages[(chat_id, message_id)]["text"])

    # --- the Bot API ----------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = _params(dict(await request.post()) | dict(request.query))
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        call = Call(method, params, asyncio.get_running_loop().time())
        failure = self._take_failure(method, params)
        if failure is None and "chat_id" in params:
            failure = self._refused_chats.get(params["chat_id"])
        if failure is not None:
            call.status = failure.status
            response = _error(failure.status, failure.description, failure.parameters)
        else:
            handler = getattr(self, f"_api_{method}", None)
            if method in _ACKNOWLEDGED:
                call.result = True
                response = web.json_response({"ok": True, "result": True})
            elif handler is None:
                call.status = 404
                response = _error(404, "Not Found")
            else:
                try:
                    call.result = await handler(params)
                    response = web.json_response({"ok": True, "result": call.result})
                except _ApiError as exc:
                    call.status = 400
                    response = _error(400, f"Bad Request: {exc}")
        self.calls.append(call)
        async with self._changed:
            self._changed.notify_all()
        return response

    def _take_failure(self, method: str, params: dict[str, Any]) -> _Failure | None:
        queued = self._failures.get(method, [])
        for index, failure in enumerate(queued):
            if not failure.html_only or str(params.get("parse_mode", "")).upper() == "HTML":
                return queued.pop(index)
        return None

    async def _api_getMe(self, params: dict[str, Any]) -> Any:
        return self.bot_user

    async def _api_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        if offset:  # confirms everything before it
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        timeout = float(params.get("timeout") or 0)
        if not self._updates and timeout > 0 and not self._closing:
            async with self._changed:
                try:
                    async with asyncio.timeout(timeout):
                        await self._changed.wait_for(lambda: bool(self._updates) or self._closing)
                except TimeoutError:
                    pass
        return self._updates[: int(params.get("limit") or 100)]

    async def _api_sendMessage(self, params: dict[str, Any]) -> Any:
        chat_id = int(params["chat_id"])
        message = self._message(chat_id, self.bot_user, self._checked_text(params))
        message["parse_mode"] = params.get("parse_mode")
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        return self._public(message)

    async def _api_editMessageText(self, params: dict[str, Any]) -> Any:
        key = (int(params["chat_id"]), int(params["message_id"]))
        message = self.messages.get(key)
        if message is None:
            raise _ApiError("message to edit not found")
        text = self._checked_text(params)
        markup = params.get("reply_markup")
        if (text, params.get("parse_mode"), markup) == (
            message["text"],
            message.get("parse_mode"),
            message.get("reply_markup"),
        ):
            raise _ApiError(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        message.update(text=text, parse_mode=params.get("parse_mode"), edit_date=int(time.time()))
        message.pop("reply_markup", None)
        if markup is not None:
            message["reply_markup"] = markup
        return self._public(message)

    def _checked_text(self, params: dict[str, Any]) -> str:
        raw = str(params.get("text", ""))
        try:
            text = visible_text(raw, params.get("parse_mode"))
        except TelegramHTMLError as exc:
            raise _ApiError(f"can't parse entities: {exc}") from None
        if not text.strip():
            raise _ApiError("message text is empty")
        if text_size(text) > MESSAGE_LIMIT:
            raise _ApiError("message is too long")
        return text

    def _message(self, chat_id: int, sender: dict[str, Any], text: str) -> dict[str, Any]:
        self._message_ids[chat_id] = message_id = self._message_ids.get(chat_id, 0) + 1
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": sender,
            "text": text,
        }
        self.messages[(chat_id, message_id)] = message
        return message

    @staticmethod
    def _public(message: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in message.items() if k != "parse_mode"}


class _ApiError(Exception):
    pass


def _params(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _JSON_FIELDS:
            value = json.loads(value)
        elif key in _INT_FIELDS and str(value).lstrip("-").isdigit():
            value = int(value)
        out[key] = value
    return out


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)
