"""The Telegram front end: python-telegram-bot 22 on serve's event loop.

Every text message (commands included) goes to `ChatHandler.handle`; a reply to one of our
draft messages is the owner's edit of that draft; the feedback buttons come back as
callback queries. Updates are processed concurrently (one user's draft never holds up
another's `help`), and an update that fails is logged while the bot keeps serving.
Long polling by default; a webhook when `telegram.webhook_url` is set.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from typing import Any

from telegram import BotCommand, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from bot.chat.handler import ChatHandler
from bot.chat.notify import Notifier
from bot.chat.replies import ChatUser
from bot.chat.telegram.notify import TelegramNotifier
from bot.chat.telegram.render import TelegramRenderer, parse_feedback
from bot.chat.telegram.webhook import start_webhook
from bot.config import Config, secret
from core.errors import ConfigError, TwinError

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
ALLOWED_UPDATES = (Update.MESSAGE, Update.CALLBACK_QUERY)
POLL_TIMEOUT = 10  # seconds a getUpdates long poll waits for news
MENU = (
    ("draft", "a draft in your voice: draft [linkedin|thread|article|answer] <prompt>"),
    ("ingest", "add links to your writing"),
    ("search", "search your writing"),
    ("sources", "what has been collected"),
    ("forget", "remove a source"),
    ("status", "documents, chunks, model, queue"),
    ("cancel", "stop the draft in progress"),
    ("train", "fine-tune on your writing: train [dpo] [steps N], train status, train cancel"),
    ("models", "training runs; models activate RUN|base"),
    ("recrawl", "fetch what changed in your sources now"),
    ("schedules", "scheduled jobs; pause, resume or run JOB"),
    ("help", "what this bot does"),
)

App = Application[Any, Any, Any, Any, Any, Any]


class TelegramAdapter:
    """Turns updates into `ChatHandler` calls and renders what comes back."""

    def __init__(self, handler: ChatHandler, renderer: TelegramRenderer) -> None:
        self.handler = handler
        self.renderer = renderer

    def install(self, app: App) -> None:
        # New messages only: edited messages and channel posts are other update types.
        text = filters.UpdateType.MESSAGE & filters.TEXT
        app.add_handler(MessageHandler(text, self.on_message))
        app.add_handler(CallbackQueryHandler(self.on_callback))
        app.add_error_handler(self.on_error)

    async def on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        sender = message.from_user if message is not None else None
        if message is None or message.text is None or sender is None or sender.is_bot:
            return
        user = ChatUser("telegram", str(sender.id), sender.full_name or sender.username or "")
        replied = message.reply_to_message
        draft_id = (
            self.renderer.drafts.draft_for(message.chat_id, replied.message_id)
            if replied is not None
            else None
        )
        if draft_id is not None:  # a reply to a draft: the owner's corrected version
            outs = self.handler.feedback(user, draft_id, "edit", message.text)
        else:
            outs = self.handler.handle(user, message.text)
        await self.renderer.render(message.chat_id, outs)

    async def on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        # Answer first: the button's spinner stops even if the feedback takes a while.
        try:
            await query.answer()
        except TelegramError as exc:  # too old to answer; the feedback still counts
            log.info("callback query %s not answered: %s", query.id, exc)
        parsed = parse_feedback(query.data)
        if parsed is None:
            log.info("ignoring a button press with unknown data %r", query.data)
            return
        action, draft_id = parsed
        sender = query.from_user
        user = ChatUser("telegram", str(sender.id), sender.full_name or sender.username or "")
        chat_id = query.message.chat.id if query.message is not None else sender.id
        outs = self.handler.feedback(user, draft_id, action)
        await self.renderer.render(chat_id, outs)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("Telegram update %s failed; still serving", update_id, exc_info=context.error)


def build_application(config: Config, token: str, *, polling: bool = True) -> App:
    builder = (
        Application.builder()
        .token(token)
        .base_url(config.telegram.base_url or DEFAULT_BASE_URL)
        .concurrent_updates(True)
        .job_queue(None)
    )
    if not polling:
        builder = builder.updater(None)
    return builder.build()


async def start_telegram(
    config: Config,
    handler: ChatHandler,
    stack: AsyncExitStack,
    *,
    notifiers: dict[str, Notifier] | None = None,
) -> str:
    """Start the bot on the running loop; its shutdown is registered on `stack`. Returns
    one line saying how it receives updates; once started, its `TelegramNotifier` (posts
    of the bot's own) is added to `notifiers` under "telegram"."""
    token = secret("telegram", "token")
    if not token:
        raise ConfigError("set TWIN_TELEGRAM__TOKEN to the bot token from @BotFather")
    webhook = bool(config.telegram.webhook_url)
    app = build_application(config, token, polling=not webhook)
    renderer = TelegramRenderer(app.bot, edit_interval=config.chat.edit_interval)
    TelegramAdapter(handler, renderer).install(app)
    try:
        await app.initialize()
    except InvalidToken:
        await app.bot.shutdown()
        # PTB's message quotes the token: never repeat it.
        raise ConfigError(
            "Telegram rejected the bot token in TWIN_TELEGRAM__TOKEN; copy it again from @BotFather"
        ) from None
    except TelegramError as exc:
        await app.bot.shutdown()
        where = config.telegram.base_url or DEFAULT_BASE_URL
        reason = str(exc).replace(token, "<token>")  # error texts may quote the URL
        raise TwinError(
            f"cannot reach the Telegram Bot API at {where} ({reason}); check the network "
            "or telegram.base_url"
        ) from None
    stack.push_async_callback(app.shutdown)
    await app.start()
    stack.push_async_callback(app.stop)
    await _set_menu(app)
    if notifiers is not None:
        notifiers[TelegramNotifier.platform] = TelegramNotifier(renderer)
    if webhook:
        return await start_webhook(app, config, stack, ALLOWED_UPDATES)
    updater = app.updater
    assert updater is not None  # built with one when polling
    await updater.start_polling(timeout=POLL_TIMEOUT, allowed_updates=list(ALLOWED_UPDATES))
    stack.push_async_callback(updater.stop)
    return f"long polling as @{app.bot.username}"


async def _set_menu(app: App) -> None:
    """The command menu Telegram shows; a nicety, so a failure only logs."""
    try:
        await app.bot.set_my_commands([BotCommand(name, text) for name, text in MENU])
    except TelegramError as exc:
        log.warning("could not set the Telegram command menu: %s", exc)
