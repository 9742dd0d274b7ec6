"""The [web] config section: the local web page.

Each field is one key of `config.toml` (where it is documented for the owner); a test keeps
the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.chat.settings import PORT_RULE
from core.settings import require


@dataclass(frozen=True)
class WebSettings:
    # Serve the page (on by default; it needs the token printed at start).
    enabled: bool = True
    host: str = "127.0.0.1"
    # 0 picks a free port (printed at start).
    port: int = 8765

    def validate(self) -> None:
        require(0 <= self.port <= 65535, "web.port", PORT_RULE)
