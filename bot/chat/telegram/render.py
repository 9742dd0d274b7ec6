"""The command layer's replies as Telegram messages.

`Say` becomes messages (split at 4096). A draft is one message: sent on the first text,
edited at most every `edit_interval` seconds while it streams (longer when edits are slow or
Telegram asks us to back off), then settled by `DraftFinal` with formatting, the sources
and the feedback buttons. Previews may be skipped; the final text never is: a flood wait
is waited out, HTML Telegram rejects is resent as plain text, and a message that can no
longer be edited is replaced by a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import warnings
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Message
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from bot.chat.replies import (
    BUTTON_LABELS,
    FEEDBACK_ACTIONS,
    DraftFinal,
    DraftUpdate,
    FeedbackAction,
    Out,
    Say,
)
from bot.chat.telegram.markup import split_text, to_html

log = logging.getLogger(__name__)

T = TypeVar("T")
CALLBACK_PREFIX = "fb"
CALLBACK_DATA_LIMIT = 64  # bytes, Telegram's limit for callback_data
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_MAX_FLOOD_WAITS = 5
_EMPTY_DRAFT = "(the model wrote nothing; try rephrasing the prompt)"


def feedback_keyboard(draft_id: str) -> InlineKeyboardMarkup | None:
    """👍 👎 🔁 ✏️ under a draft; None if the id would not fit in callback_data."""
    buttons = []
    for action in FEEDBACK_ACTIONS:
        data = f"{CALLBACK_PREFIX}:{action}:{draft_id}"
        if len(data.encode()) > CALLBACK_DATA_LIMIT:
            log.warning("draft id %r too long for Telegram buttons; sent without them", draft_id)
            return None
        buttons.append(InlineKeyboardButton(BUTTON_LABELS[action], callback_data=data))
    return InlineKeyboardMarkup([buttons[:2], buttons[2:]])


def parse_feedback(data: str | None) -> tuple[FeedbackAction, str] | None:
    """`fb:<action>:<draft_id>` back to its parts; None for anything else."""
    prefix, _, rest = (data or "").partition(":")
    action, _, draft_id = rest.partition(":")
    for known in FEEDBACK_ACTIONS:
        if prefix == CALLBACK_PREFIX and action == known and draft_id:
            return known, draft_id
    return None


class DraftMessages:
    """Which draft each sent draft message shows, for replies that edit it; only the
    most recent `limit` messages are kept."""

    def __init__(self, limit: int = 1000) -> None:
        self.limit = limit
        self._drafts: OrderedDict[tuple[int, int], str] = OrderedDict()

    def remember(self, chat_id: int, message_id: int, draft_id: str) -> None:
        self._drafts[(chat_id, message_id)] = draft_id
        self._drafts.move_to_end((chat_id, message_id))
        while len(self._drafts) > self.limit:
            self._drafts.popitem(last=False)

    def draft_for(self, chat_id: int, message_id: int) -> str | None:
        return self._drafts.get((chat_id, message_id))

    def __len__(self) -> int:
        return len(self._drafts)


@dataclass
class _LiveDraft:
    message_id: int | None = None
    shown: str = ""
    next_edit: float = 0.0


class TelegramRenderer:
    def __init__(
        self,
        bot: Bot,
        *,
        edit_interval: float = 1.0,
        typing_delay: float = 0.5,
        typing_every: float = 4.0,
        drafts: DraftMessages | None = None,
    ) -> None:
        self.bot = bot
        self.edit_interval = edit_interval
        # The first typing action waits a moment, so instant answers never show one.
        self.typing_delay = typing_delay
        self.typing_every = typing_every
        self.drafts = drafts or DraftMessages()
        self._blocked_until: dict[int, float] = {}  # chat id -> loop time (flood control)

    async def render(self, chat_id: int, outs: AsyncIterator[Out]) -> None:
        """Every reply in `outs`, in order, with a typing indicator meanwhile."""
        draft: _LiveDraft | None = None
        interval = self.edit_interval
        try:
            async with self._typing(chat_id):
                async for out in outs:
                    if isinstance(out, Say):
                        await self.say(chat_id, out.text)
                    elif isinstance(out, DraftUpdate):
                        draft = draft or _LiveDraft()
                        interval = await self._preview(chat_id, draft, out.text, interval)
                    else:
                        await self._finish(chat_id, draft, out)
                        draft, interval = None, self.edit_interval
        finally:
            # If sending failed midway, close the handler's generator now (that stops a
            # draft in flight) rather than whenever it is garbage-collected.
            aclose = getattr(outs, "aclose", None)
            if aclose is not None:
                await aclose()

    async def say(self, chat_id: int, text: str) -> list[int]:
        """`text` as one or more messages; their ids."""
        return [await self._send(chat_id, part, None) for part in split_text(text) or ["…"]]

    async def draft(self, chat_id: int, final: DraftFinal) -> list[int]:
        """A finished draft as new messages, as a streamed draft settles: formatted, the
        feedback buttons on its last message, each message remembered for reply-edits."""
        return await self._finish(chat_id, None, final)

    async def _finish(self, chat_id: int, draft: _LiveDraft | None, final: DraftFinal) -> list[int]:
        """The draft's final text, formatted, with the feedback buttons on its last
        message; every message it takes is remembered for reply-edits."""
        parts = split_text(final.full_text) or [_EMPTY_DRAFT]
        keyboard = feedback_keyboard(final.draft_id)
        ids: list[int] = []
        for index, part in enumerate(parts):
            markup = keyboard if index == len(parts) - 1 else None
            if index == 0 and draft is not None and draft.message_id is not None:
                ids.append(await self._final_edit(chat_id, draft.message_id, part, markup))
            else:
                ids.append(await self._send(chat_id, part, markup))
        for message_id in ids:
            self.drafts.remember(chat_id, message_id, final.draft_id)
        return ids

    # --- streaming previews: best effort, never waiting on flood control -------------------

    async def _preview(self, chat_id: int, draft: _LiveDraft, text: str, interval: float) -> float:
        """Show `text` if due; returns the interval to keep between edits."""
        preview = next(iter(split_text(text)), "")
        now = asyncio.get_running_loop().time()
        if not preview or preview == draft.shown or now < draft.next_edit or self._blocked(chat_id):
            return interval
        try:
            if draft.message_id is None:
                message = await self.bot.send_message(
                    chat_id, preview, link_preview_options=_NO_PREVIEW
                )
                draft.message_id = message.message_id
            else:
                await self.bot.edit_message_text(
                    preview, chat_id, draft.message_id, link_preview_options=_NO_PREVIEW
                )
        except RetryAfter as exc:
            self._block(chat_id, exc)
            # Telegram pushed back: edit this chat less often for the rest of the draft.
            interval = min(interval * 2, self.edit_interval * 10)
        except TelegramError as exc:  # e.g. "message is not modified"; the final edit fixes it
            log.debug("draft preview in chat %s not shown: %s", chat_id, exc)
        else:
            draft.shown = preview
            # Slow edits mean a busy connection: space them out rather than queue them.
            took = asyncio.get_running_loop().time() - now
            interval = max(self.edit_interval, min(took * 4, self.edit_interval * 5), interval)
        draft.next_edit = max(asyncio.get_running_loop().time() + interval, draft.next_edit)
        return interval

    # --- final messages: delivered, whatever it takes ---------------------------------------

    async def _final_edit(
        self, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None
    ) -> int:
        async def edit(body: str, mode: str | None) -> Message | bool:
            return await self.bot.edit_message_text(
                body,
                chat_id,
                message_id,
                parse_mode=mode,
                reply_markup=markup,
                link_preview_options=_NO_PREVIEW,
            )

        try:
            await self._formatted(chat_id, text, edit)
        except BadRequest as exc:
            if "not modified" in exc.message.lower():
                return message_id
            # Deleted, too old to edit, ...: the text goes out as a new message instead.
            log.info("cannot edit draft message %s (%s); sending it anew", message_id, exc)
            return await self._send(chat_id, text, markup)
        return message_id

    async def _send(self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None) -> int:
        async def send(body: str, mode: str | None) -> Message:
            return await self.bot.send_message(
                chat_id,
                body,
                parse_mode=mode,
                reply_markup=markup,
                link_preview_options=_NO_PREVIEW,
            )

        message = await self._formatted(chat_id, text, send)
        return message.message_id

    async def _formatted(
        self, chat_id: int, text: str, call: Callable[[str, str | None], Awaitable[T]]
    ) -> T:
        """`call` with the text as HTML; as plain text if Telegram cannot parse that."""
        try:
            return await self._patiently(chat_id, lambda: call(to_html(text), ParseMode.HTML))
        except BadRequest as exc:
            if "parse entities" not in exc.message.lower():
                raise
            log.warning("Telegram rejected the formatting (%s); sending plain text", exc)
        return await self._patiently(chat_id, lambda: call(text, None))

    async def _patiently(self, chat_id: int, call: Callable[[], Awaitable[T]]) -> T:
        """`call`, waiting out flood control (RetryAfter) first and between tries."""
        for _ in range(_MAX_FLOOD_WAITS):
            await self._wait_unblocked(chat_id)
            try:
                return await call()
            except RetryAfter as exc:
                self._block(chat_id, exc)
        await self._wait_unblocked(chat_id)
        return await call()

    # --- flood control and typing -----------------------------------------------------------

    def _block(self, chat_id: int, exc: RetryAfter) -> None:
        seconds = retry_seconds(exc)
        log.info("Telegram flood control in chat %s: waiting %.1f s", chat_id, seconds)
        until = asyncio.get_running_loop().time() + seconds
        self._blocked_until[chat_id] = max(until, self._blocked_until.get(chat_id, 0.0))

    def _blocked(self, chat_id: int) -> bool:
        until = self._blocked_until.get(chat_id)
        if until is None:
            return False
        if until > asyncio.get_running_loop().time():
            return True
        self._blocked_until.pop(chat_id, None)
        return False

    async def _wait_unblocked(self, chat_id: int) -> None:
        while self._blocked(chat_id):
            wait = self._blocked_until[chat_id] - asyncio.get_running_loop().time()
            await asyncio.sleep(max(wait, 0.0))

    @contextlib.asynccontextmanager
    async def _typing(self, chat_id: int) -> AsyncIterator[None]:
        task = asyncio.create_task(self._keep_typing(chat_id))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _keep_typing(self, chat_id: int) -> None:
        await asyncio.sleep(self.typing_delay)
        while True:
            if not self._blocked(chat_id):
                try:
                    await self.bot.send_chat_action(chat_id, ChatAction.TYPING)
                except TelegramError as exc:  # only an indicator: never worth failing over
                    log.debug("typing indicator in chat %s: %s", chat_id, exc)
            await asyncio.sleep(self.typing_every)


def retry_seconds(exc: RetryAfter) -> float:
    """RetryAfter's wait in seconds (PTB 22 warns on the int form; read it either way)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
