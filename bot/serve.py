"""`llm-twin serve`: every configured front end, the model worker and the stores, in one
asyncio process.

Start-up loads the model first (a missing model stops it here, with the fix), then starts
the web page (unless disabled; /healthz and /metrics stay up either way), Telegram when
its token is set, Slack when its tokens are set. SIGTERM or SIGINT: drafts in flight are
cancelled (each adapter shows "(cancelled)" and the partial draft is recorded), adapters
stop, stores close.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

from aiohttp import web

from bot.chat.handler import ChatHandler
from bot.chat.notify import Notifier, notifier_for, poster
from bot.chat.replies import ChatUser
from bot.config import Config
from bot.metrics import Metrics
from bot.running import announced, local_url
from bot.schedules.service import ScheduleService
from bot.twin import Twin
from bot.web.access import WebToken, check_bind, tls_context
from bot.web.app import build_web_app
from core.errors import TwinError
from model.backends import with_backend
from model.draft import DraftWriter
from model.generator import Generator
from training.jobs import TrainingJobs

log = logging.getLogger(__name__)


def allowlist(config: Config) -> Callable[[ChatUser], bool]:
    """Web: the token holder (the owner). Telegram: listed user ids. Slack: listed user or
    team ids. Everyone else is refused."""
    telegram = set(config.telegram.allowed_user_ids)
    slack = set(config.slack.allowed_user_ids)

    def allowed(user: ChatUser) -> bool:
        if user.platform == "web":
            return True
        if user.platform == "telegram":
            return user.id in telegram
        if user.platform == "slack":
            return user.id in slack or (bool(user.team) and user.team in slack)
        return False

    return allowed


async def serve(
    config: Config,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[dict[str, str]], Awaitable[None] | None] | None = None,
    generator: Generator | None = None,
) -> None:
    """Run until `stop` is set (or SIGTERM/SIGINT). `on_ready` gets what started where;
    `generator` is an already loaded model to use instead of `[model]`'s."""
    check_bind(config.web)  # before the model loads: a refusal costs nothing
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Not available off the main thread (tests run `serve` in one).
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    twin = Twin(config, generator=generator)
    metrics = Metrics()
    try:
        log.info("loading the model (%s backend)", with_backend(config.model).backend)
        worker = await twin.model_worker()
        # torch and transformers leave ~600k long-lived objects: move them out of the
        # collector's sight, or each full collection stalls the loop ~0.35 s (acks to
        # Slack went from p99 452 ms to 74 ms under load, bench/slack_ack_bench.py).
        gc.collect()
        gc.freeze()
        metrics.watch_worker(worker.queued, lambda: worker.active)
        async with AsyncExitStack() as stack:
            writer = await stack.enter_async_context(twin.draft_writer())
            # Adapters add their notifiers as they start; the schedules post through them.
            notifiers: dict[str, Notifier] = {}
            handler = _chat_handler(twin, writer, metrics, notifiers)
            schedules = handler.schedules
            started = await _start_web(config, handler, twin, metrics, stack)
            chats, _ = await _start_chat_adapters(config, handler, stack, notifiers)
            started |= chats
            if schedules is not None:
                started["schedules"] = await _start_schedules(schedules, notifiers, stack)
            if config.model.reload_interval > 0:
                follow = asyncio.create_task(_follow_active_model(twin, config, stop))
                stack.callback(follow.cancel)
            for name, where in started.items():
                log.info("started %s: %s", name, where)
            if on_ready is not None:
                maybe = on_ready(started)
                if maybe is not None:
                    await maybe
            await stop.wait()
            log.warning("stopping: cancelling %d draft(s) in flight", handler.drafts_in_flight)
            await handler.cancel_all()
    finally:
        await asyncio.to_thread(twin.health.stop)  # an index mend resumes at the next start
        await twin.aclose()
        log.warning("stopped")


def _chat_handler(
    twin: Twin, writer: DraftWriter, metrics: Metrics, notifiers: dict[str, Notifier]
) -> ChatHandler:
    """The command layer every front end talks to, with the training jobs and (when
    enabled) the schedules it controls."""
    config = twin.config
    training = TrainingJobs(twin.training_context())
    schedules = (
        ScheduleService(
            twin,
            notify=poster(notifiers, key="schedules.digest_to"),
            training=training,
            writer=writer,
        )
        if config.schedules.enabled
        else None
    )
    return ChatHandler(
        twin,
        writer,
        allowed=allowlist(config),
        rate_per_minute=config.chat.rate_per_minute,
        metrics=metrics,
        training=training,
        schedules=schedules,
    )


async def _follow_active_model(twin: Twin, config: Config, stop: asyncio.Event) -> None:
    """Swap in a newly activated model (from the registry) every `reload_interval`."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), config.model.reload_interval)
        if stop.is_set():
            return
        try:
            await twin.follow_active_model()
        except TwinError as exc:
            log.error("could not swap in the newly activated model: %s", exc)


async def _start_web(
    config: Config, handler: ChatHandler, twin: Twin, metrics: Metrics, stack: AsyncExitStack
) -> dict[str, str]:
    """The page (its token kept in TWIN_HOME, the same across restarts), or with the page
    disabled only /healthz and /metrics; over TLS when web.tls_cert is set."""
    token = WebToken(config.home)
    page = handler if config.web.enabled else None
    tls = tls_context(config.web)
    runner = web.AppRunner(build_web_app(page, twin, metrics, token=token), access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, config.web.host, config.web.port, ssl_context=tls)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"{'https' if tls else 'http'}://{config.web.host}:{port}"
    if not config.web.enabled:
        return {"health": f"{base}/healthz and {base}/metrics"}
    # The command line on this home sends its search, draft, ingest and recrawl here.
    local = local_url(config.web.host, port, tls=tls is not None)
    stack.enter_context(announced(config.home, local, tls_cert=config.web.tls_cert or None))
    return {"web page": f"{base}/#token={token.value()}", "health": f"{base}/healthz"}


async def _start_schedules(
    service: ScheduleService, notifiers: dict[str, Notifier], stack: AsyncExitStack
) -> str:
    """The schedules, posting through the running chat adapters; a destination whose
    adapter is not running is named now, not at the first digest."""
    config = service.twin.config.schedules
    for key in ("digest_to", "report_to"):
        for destination in getattr(config, key):
            try:
                notifier_for(destination, notifiers, key=f"schedules.{key}")
            except TwinError as exc:
                log.error("%s", exc)
    said = await service.start()
    stack.push_async_callback(service.stop)
    return said


async def _start_chat_adapters(
    config: Config,
    handler: ChatHandler,
    stack: AsyncExitStack,
    notifiers: dict[str, Notifier] | None = None,
) -> tuple[dict[str, str], dict[str, Notifier]]:
    """Telegram and Slack, each when its secrets are in the environment: what started
    where, and `notifiers` (a new dict when none is given), to which each started adapter
    has added its notifier (its own posts)."""
    started: dict[str, str] = {}
    notifiers = {} if notifiers is None else notifiers
    from bot.config import secret

    if secret("telegram", "token"):
        from bot.chat.telegram.adapter import start_telegram

        started["telegram"] = await start_telegram(config, handler, stack, notifiers=notifiers)
    if secret("slack", "bot_token"):
        from bot.chat.slack.adapter import start_slack

        started["slack"] = await start_slack(config, handler, stack, notifiers=notifiers)
    return started, notifiers
