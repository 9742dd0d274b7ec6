"""The config sections of the chat layer: [chat] (every adapter), [telegram] and [slack].

Each field is one key of `config.toml` (where it is documented for the owner); a test keeps
the two in step. Tokens and signing secrets come from the environment only.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.settings import require

PORT_RULE = "must be a TCP port (0..65535; 0 picks a free one)"


@dataclass(frozen=True)
class ChatSettings:
    # Messages per user per minute across every front end; more get a "slow down" reply.
    rate_per_minute: int = 20
    # Seconds between edits of a streaming draft message.
    edit_interval: float = 1.0

    def validate(self) -> None:
        require(self.rate_per_minute >= 1, "chat.rate_per_minute", "must be at least 1")
        require(self.edit_interval > 0, "chat.edit_interval", "must be positive")


@dataclass(frozen=True)
class TelegramSettings:
    # Bot API base URL. Empty: https://api.telegram.org/bot
    base_url: str = ""
    # Telegram user ids allowed to use the bot. Empty: nobody.
    allowed_user_ids: tuple[str, ...] = ()
    # Empty: long polling. Your public https URL: a webhook instead.
    webhook_url: str = ""
    # Local port the webhook listens on.
    webhook_port: int = 8443

    def validate(self) -> None:
        require(0 <= self.webhook_port <= 65535, "telegram.webhook_port", PORT_RULE)


@dataclass(frozen=True)
class SlackSettings:
    # Web API base URL. Empty: https://slack.com/api/
    base_url: str = ""
    # Port of the HTTP events endpoint (/slack/events) when not in Socket Mode.
    port: int = 3000
    # Slack user ids (U…) or team ids (T…) allowed to use the bot. Empty: nobody.
    allowed_user_ids: tuple[str, ...] = ()

    def validate(self) -> None:
        require(0 <= self.port <= 65535, "slack.port", PORT_RULE)
