"""Posting to a Telegram chat on the bot's own initiative, through the adapter's renderer:
the same HTML conversion, 4096-character splitting, flood-control waits and, for a draft,
the same feedback buttons (and reply-edits) as a streamed draft."""

from __future__ import annotations

from typing import ClassVar

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.chat.notify import NotifyError, posted_draft
from bot.chat.telegram.render import TelegramRenderer


class TelegramNotifier:
    platform: ClassVar[str] = "telegram"

    def __init__(self, renderer: TelegramRenderer) -> None:
        self.renderer = renderer

    async def post(self, channel: str, text: str, *, draft_id: str | None = None) -> None:
        where = f"telegram chat {channel}"
        try:
            chat_id = int(channel)
        except ValueError:
            raise NotifyError(
                where, "not a chat id; use the number, e.g. 123456789 (a group: -100…)"
            ) from None
        if not text.strip():
            raise NotifyError(where, "the message is empty; nothing was sent")
        try:
            if draft_id is None:
                await self.renderer.say(chat_id, text)
            else:
                await self.renderer.draft(chat_id, posted_draft(draft_id, text))
        except TelegramError as exc:
            raise self._failure(where, exc) from exc

    def _failure(self, where: str, exc: TelegramError) -> NotifyError:
        said = exc.message.replace(self.renderer.bot.token, "<token>")
        lowered = said.lower()
        if isinstance(exc, ChatMigrated):
            return NotifyError(
                where,
                f"the group became a supergroup with id {exc.new_chat_id}; "
                f"post to telegram:{exc.new_chat_id} instead",
            )
        if isinstance(exc, Forbidden):
            return NotifyError(
                where,
                f"the bot may not post there ({said}); unblock it or send it /start from that "
                "account, add it back to the group, or make it an admin of the channel",
            )
        if isinstance(exc, BadRequest) and "chat not found" in lowered:
            return NotifyError(
                where,
                "Telegram knows no such chat for this bot (chat not found); check the id, add "
                "the bot to the group or channel, or send it /start from that account first",
            )
        if isinstance(exc, BadRequest):
            return NotifyError(where, f"Telegram refused the message ({said})")
        if isinstance(exc, InvalidToken):
            return NotifyError(
                where,
                "Telegram rejected the bot token; copy it again from @BotFather into "
                "TWIN_TELEGRAM__TOKEN",
            )
        if isinstance(exc, RetryAfter):
            return NotifyError(
                where,
                "Telegram kept asking to slow down (flood control); try later",
                transient=True,
            )
        if isinstance(exc, NetworkError):  # TimedOut too
            return NotifyError(
                where,
                f"cannot reach the Telegram Bot API ({said}); check the network or "
                "telegram.base_url; the message was not sent",
                transient=True,
            )
        return NotifyError(where, f"Telegram refused the message ({said})")
