"""The [web] config section: the local web page.

Each field is one key of `config.toml` (where it is documented for the owner); a test keeps
the two in step. Whether a host may be bound at all (loopback, or TLS, or the owner's
explicit say-so) is decided when `serve` starts (bot/web/access.py), not here: other
commands never bind it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.chat.settings import PORT_RULE
from core.settings import require


@dataclass(frozen=True)
class WebSettings:
    # Serve the page (on by default; it needs the token kept in $TWIN_HOME/web_token).
    enabled: bool = True
    host: str = "127.0.0.1"
    # 0 picks a free port (printed at start).
    port: int = 8765
    # A certificate and its private key (PEM files) to serve the page over HTTPS.
    tls_cert: str = ""
    tls_key: str = ""
    # Allow a host other than loopback without TLS (e.g. behind your own TLS proxy).
    allow_remote: bool = False
    # Largest file the page may upload (a platform export .zip), in megabytes.
    max_upload_mb: int = 200

    def validate(self) -> None:
        require(0 <= self.port <= 65535, "web.port", PORT_RULE)
        require(
            bool(self.tls_cert) == bool(self.tls_key),
            "web.tls_cert",
            "and web.tls_key go together: set both (PEM files) or neither",
        )
        require(self.max_upload_mb >= 1, "web.max_upload_mb", "must be at least 1")
