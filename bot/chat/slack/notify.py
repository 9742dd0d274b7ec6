"""Posting to a Slack channel on the bot's own initiative, the way replies are posted:
mrkdwn and Block Kit from `bot.chat.slack.blocks` (3000-character sections, 50 blocks a
message), 429s waited out, and for a draft the settled draft's feedback buttons, so a
press is handled by the listeners' usual feedback path."""

from __future__ import annotations

from typing import ClassVar

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.notify import NotifyError, posted_draft
from bot.chat.slack.blocks import say_messages
from bot.chat.slack.stream import DraftStream, Target

_TOKEN_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)


class SlackNotifier:
    platform: ClassVar[str] = "slack"

    def __init__(self, client: AsyncWebClient, *, bot_name: str = "") -> None:
        self.client = client
        self.bot_name = bot_name  # auth.test's user name, for the /invite hint

    async def post(self, channel: str, text: str, *, draft_id: str | None = None) -> None:
        where = f"slack channel {channel}"
        if not text.strip():
            raise NotifyError(where, "the message is empty; nothing was sent")
        target = Target(self.client, channel)  # no response_url: failures surface here
        try:
            if draft_id is None:
                for message in say_messages(text):
                    await target.post(message)
            else:
                await DraftStream(target, 0.0).finish(posted_draft(draft_id, text))
        except SlackApiError as exc:
            raise self._refused(where, exc) from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise NotifyError(
                where,
                f"cannot reach Slack at {self.client.base_url} ({exc or type(exc).__name__}); "
                "check the network, or slack.base_url if you set it; the message was not sent",
                transient=True,
            ) from exc

    def _refused(self, where: str, exc: SlackApiError) -> NotifyError:
        error = str(exc.response.get("error") or exc.response.status_code)
        invite = f"/invite @{self.bot_name}" if self.bot_name else "/invite the bot"
        if error == "not_in_channel":
            return NotifyError(where, f"the bot is not in it; {invite} there")
        if error == "channel_not_found":
            return NotifyError(
                where,
                "the bot sees no channel with this id (channel_not_found); use the id from the "
                f"channel's details (C0123…), not its name, and in a private channel {invite}",
            )
        if error == "is_archived":
            return NotifyError(where, "the channel is archived; unarchive it or pick another")
        if error in _TOKEN_ERRORS:
            return NotifyError(
                where,
                f"Slack refused the bot token ({error}); check TWIN_SLACK__BOT_TOKEN",
            )
        if error == "missing_scope":
            needed = exc.response.get("needed") or "chat:write"
            return NotifyError(
                where,
                f"the Slack app lacks the {needed} scope; add it under OAuth & Permissions "
                "and reinstall the app",
            )
        if error == "ratelimited":
            return NotifyError(
                where, "Slack kept rate-limiting the post; try later", transient=True
            )
        return NotifyError(where, f"Slack refused the message ({error})")
