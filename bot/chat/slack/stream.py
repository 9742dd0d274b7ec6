"""Where a reply goes, and a draft that streams into one Slack message.

A `Target` is a channel (and maybe a thread) to post in. When the bot cannot post there
(a slash command in a channel it was not invited to), it falls back to the request's
`response_url`, which works without membership but cannot be edited later.

A draft posts one message on its first text, edits it at most every `edit_interval`
seconds (unchanged text is not re-sent), and settles it as Block Kit when the draft ends.
Slack answers edits too fast with HTTP 429 and `Retry-After`: edits in between are then
skipped until that time, and the final one waits it out, so the last text always lands.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.replies import DraftFinal, DraftUpdate, Out, Say
from bot.chat.slack.blocks import SlackMessage, draft_messages, say_messages, streaming_text

log = logging.getLogger(__name__)

T = TypeVar("T")
NOT_A_MEMBER = frozenset({"not_in_channel", "channel_not_found"})
MAX_ATTEMPTS = 5
MAX_WAIT = 60.0  # a longer Retry-After is capped: the edit is retried, not abandoned


def retry_after(exc: BaseException) -> float | None:
    """Seconds Slack asked us to wait, when `exc` is its 429 "ratelimited" answer."""
    if not isinstance(exc, SlackApiError):
        return None
    response = exc.response
    if response.status_code != 429 and response.get("error") != "ratelimited":
        return None
    try:
        return min(MAX_WAIT, max(0.0, float(response.headers.get("Retry-After", 1))))
    except (TypeError, ValueError):
        return 1.0


async def patiently(call: Callable[[], Awaitable[T]]) -> T:
    """`call()`, waiting out 429s (up to MAX_ATTEMPTS tries); other errors propagate."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return await call()
        except SlackApiError as exc:
            wait = retry_after(exc)
            if wait is None or attempt == MAX_ATTEMPTS:
                raise
            log.info("slack rate limit: retrying in %.1f s", wait)
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")


def _error(exc: SlackApiError) -> str:
    return str(exc.response.get("error", ""))


@dataclass
class Target:
    """A channel (thread) to post in; `ephemeral` posts are seen by `user` only."""

    client: AsyncWebClient
    channel: str
    thread_ts: str | None = None
    user: str = ""
    ephemeral: bool = False
    respond: AsyncRespond | None = None
    via_response_url: bool = field(default=False, init=False)

    async def post(
        self, message: SlackMessage, *, thread_ts: str | None = None, live: bool = False
    ) -> str | None:
        """Post `message`; its ts, or None where it cannot be edited later (ephemeral, or
        sent through the response_url). A `live` message (a draft's first text, to be
        edited as it grows) is not sent by response_url at all: it could never change."""
        thread = thread_ts or self.thread_ts
        if not self.via_response_url:
            try:
                if self.ephemeral:
                    await patiently(
                        lambda: self.client.chat_postEphemeral(
                            channel=self.channel,
                            user=self.user,
                            text=message.text,
                            blocks=message.blocks or None,
                            thread_ts=thread,
                        )
                    )
                    return None
                response = await patiently(
                    lambda: self.client.chat_postMessage(
                        channel=self.channel,
                        text=message.text,
                        blocks=message.blocks or None,
                        thread_ts=thread,
                        unfurl_links=False,
                    )
                )
                return str(response["ts"])
            except SlackApiError as exc:
                if self.respond is None or _error(exc) not in NOT_A_MEMBER:
                    raise
                log.info("cannot post in %s (%s): answering by response_url", self.channel, exc)
                self.via_response_url = True
        assert self.respond is not None
        if live:
            return None
        reply = await self.respond(
            text=message.text,
            blocks=message.blocks or None,
            response_type="ephemeral" if self.ephemeral else "in_channel",
            replace_original=False,
        )
        if reply.status_code != 200:
            log.warning("response_url answered %s: %s", reply.status_code, reply.body)
        return None

    async def update(self, ts: str, message: SlackMessage) -> None:
        await self.client.chat_update(
            channel=self.channel, ts=ts, text=message.text, blocks=message.blocks or None
        )


class DraftStream:
    """One draft as one message, edited as it grows (see the module docstring)."""

    def __init__(
        self,
        target: Target,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = target
        self.interval = interval
        self.clock = clock
        self.ts: str | None = None
        self._started = False
        self._sent = ""
        self._last = 0.0
        self._blocked_until = 0.0

    async def update(self, text: str) -> None:
        shown = streaming_text(text)
        now = self.clock()
        if not self._started:
            self._started = True
            self.ts = await self.target.post(SlackMessage(shown), live=True)
            self._sent, self._last = shown, now
            return
        if self.ts is None or shown == self._sent:
            return
        if now - self._last < self.interval or now < self._blocked_until:
            return
        try:
            await self.target.update(self.ts, SlackMessage(shown))
        except SlackApiError as exc:
            if (wait := retry_after(exc)) is None:
                log.warning("slack: editing the draft failed: %s", exc)
            else:
                log.info("slack rate limit: no draft edits for %.1f s", wait)
                self._blocked_until = self.clock() + wait
            return
        self._sent, self._last = shown, now

    async def finish(self, final: DraftFinal) -> list[str]:
        """Settle the draft; the ts of every message it ended up in."""
        first, *rest = draft_messages(final)
        if self.ts is not None and not await self._settle(self.ts, first):
            self.ts = None
        if self.ts is None:
            self.ts = await self.target.post(first)
        posted = [self.ts] if self.ts else []
        for message in rest:  # past 50 blocks: the rest goes in the draft's thread
            ts = await self.target.post(message, thread_ts=self.ts)
            posted += [ts] if ts else []
        return posted

    async def _settle(self, ts: str, message: SlackMessage) -> bool:
        """The final edit, waiting out any rate limit; False when Slack refused it."""
        if (wait := self._blocked_until - self.clock()) > 0:
            await asyncio.sleep(wait)
        try:
            await patiently(lambda: self.target.update(ts, message))
        except SlackApiError as exc:
            log.warning("slack: the final edit failed (%s); posting the draft anew", exc)
            return False
        return True


class DraftThreads:
    """Which draft a message (or the thread it sits in) shows, and who asked for it: a
    reply in that thread by the same person is their edited version. Bounded, in memory."""

    def __init__(self, size: int = 2000) -> None:
        self.size = size
        self._drafts: OrderedDict[tuple[str, str], tuple[str, str]] = OrderedDict()

    def remember(self, channel: str, timestamps: list[str], draft_id: str, user_id: str) -> None:
        for ts in timestamps:
            self._drafts[(channel, ts)] = (draft_id, user_id)
            self._drafts.move_to_end((channel, ts))
        while len(self._drafts) > self.size:
            self._drafts.popitem(last=False)

    def draft_for(self, channel: str, thread_ts: str, user_id: str) -> str | None:
        found = self._drafts.get((channel, thread_ts))
        return found[0] if found is not None and found[1] == user_id else None


async def deliver(
    outs: AsyncIterator[Out],
    target: Target,
    *,
    interval: float,
    on_draft: Callable[[list[str], DraftFinal], Any] | None = None,
) -> None:
    """Render everything the handler says back into `target`."""
    stream: DraftStream | None = None
    async for out in outs:
        if isinstance(out, Say):
            for message in say_messages(out.text):
                await target.post(message)
        elif isinstance(out, DraftUpdate):
            stream = stream or DraftStream(target, interval)
            await stream.update(out.text)
        else:
            stream = stream or DraftStream(target, interval)
            posted = await stream.finish(out)
            if on_draft is not None:
                on_draft(posted, out)
            stream = None  # regenerate may follow with a new draft
