"""What every route of the web API works with: the command layer and the twin (whose
config is read at each request, so saved settings apply at once)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.chat.handler import ChatHandler
from bot.chat.replies import ChatUser
from bot.config import Config
from bot.twin import Twin

# The token holder is the owner; the allowlist lets the web user through.
OWNER = ChatUser("web", "owner", "owner (web page)")


@dataclass(frozen=True)
class WebContext:
    handler: ChatHandler
    twin: Twin

    @property
    def config(self) -> Config:
        return self.twin.config
