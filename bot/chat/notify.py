"""Posting on the bot's own initiative (scheduled digests, failure reports), not in reply
to a message: one `Notifier` per running chat adapter, and destinations written
`telegram:<chat id>` or `slack:<channel id>`.

Text is the same light Markdown the `ChatHandler`'s replies use; each adapter converts and
splits it as it does a reply. With a `draft_id` the message is rendered as a settled draft,
feedback buttons included, so a press goes through the adapter's usual feedback handling.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import ClassVar, Protocol

from bot.chat.replies import DraftFinal
from core.errors import ConfigError, TwinError


class NotifyError(TwinError):
    """A post did not reach its chat or channel. `destination` names it ("slack channel
    C0123"); `transient` is True when trying again later may work (network, rate limits),
    False when someone has to change something first (invite the bot, fix the id)."""

    def __init__(self, destination: str, reason: str, *, transient: bool = False) -> None:
        self.destination = destination
        self.reason = reason
        self.transient = transient
        super().__init__(f"{destination}: {reason}")


class Notifier(Protocol):
    platform: ClassVar[str]  # "telegram" | "slack"

    async def post(self, channel: str, text: str, *, draft_id: str | None = None) -> None:
        """Post `text` to `channel`; with `draft_id`, as that draft with its feedback
        buttons. Raises `NotifyError` when it did not get there."""
        ...


def posted_draft(draft_id: str, text: str) -> DraftFinal:
    """`text` as a settled draft with no sources or notes: what the adapters render with
    the feedback buttons at a streamed draft's end."""
    return DraftFinal(draft_id, text, "", (), (), "stop")


# platform -> (a valid channel, an example destination, what to set to run it)
_PLATFORMS: dict[str, tuple[re.Pattern[str], str, str]] = {
    "telegram": (
        re.compile(r"-?\d+"),
        "telegram:123456789 (a group: telegram:-1001234567890)",
        "TWIN_TELEGRAM__TOKEN",
    ),
    "slack": (
        re.compile(r"[CGDUW][A-Z0-9]+"),
        "slack:C0123ABCD (the channel id from its details, not #its-name)",
        "TWIN_SLACK__BOT_TOKEN (and TWIN_SLACK__SIGNING_SECRET or TWIN_SLACK__APP_TOKEN)",
    ),
}
_NAMES = {"telegram": "Telegram", "slack": "Slack"}


def notifier_for(
    destination: str, notifiers: Mapping[str, Notifier], *, key: str = "the destination"
) -> tuple[Notifier, str]:
    """The running notifier and the channel for `destination` ("telegram:<chat id>" or
    "slack:<channel id>"); `key` names where it was written, for the error messages."""
    platform, colon, channel = destination.strip().partition(":")
    platform, channel = platform.strip().lower(), channel.strip()
    usage = "; write telegram:<chat id> or slack:<channel id>"
    if not colon or not platform:
        raise ConfigError(f"{key} has {destination!r}, which names no platform{usage}")
    if platform not in _PLATFORMS:
        raise ConfigError(f"{key} has {destination!r}: unknown platform {platform!r}{usage}")
    pattern, example, needs = _PLATFORMS[platform]
    if not pattern.fullmatch(channel):
        what = "chat id" if platform == "telegram" else "channel id"
        raise ConfigError(
            f"{key} has {destination!r}: {channel!r} is not a {_NAMES[platform]} {what}; "
            f"e.g. {example}"
        )
    notifier = notifiers.get(platform)
    if notifier is None:
        raise ConfigError(
            f"{key} has {platform}:{channel} but {_NAMES[platform]} is not running: set {needs}"
        )
    return notifier, channel


# Post text to a destination ("telegram:<chat id>", "slack:<channel id>"), with the
# feedback buttons of a draft when its id is given.
Post = Callable[[str, str, "str | None"], Awaitable[None]]


def poster(notifiers: Mapping[str, Notifier], *, key: str = "the destination") -> Post:
    """`post(destination, text, draft_id)` over the running notifiers: what a job that
    names its destination as "telegram:<chat id>" or "slack:<channel id>" posts through.
    Raises `ConfigError` for a destination it cannot use, `NotifyError` for a failed post."""

    async def post(destination: str, text: str, draft_id: str | None = None) -> None:
        notifier, channel = notifier_for(destination, notifiers, key=key)
        await notifier.post(channel, text, draft_id=draft_id)

    return post
