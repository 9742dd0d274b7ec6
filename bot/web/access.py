"""Who may reach the web page: the token kept in TWIN_HOME, and where the page may listen.

The token lives in `$TWIN_HOME/web_token` (mode 0600), made on first start and the same
across restarts, so an open tab keeps working after a restart; `llm-twin web-token
--rotate` writes a new one, which a running page picks up on its next request (the file
is looked at on every request; a stat costs microseconds). The page listens on loopback;
any other host needs TLS (`web.tls_cert`, `web.tls_key`) or the owner's explicit
`web.allow_remote`, or `serve` refuses to start.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import secrets
import ssl
from pathlib import Path

from bot.web.settings import WebSettings
from core.errors import ConfigError

log = logging.getLogger(__name__)

TOKEN_FILE = "web_token"


class WebToken:
    """The page's access token in `home/web_token`, created when missing."""

    def __init__(self, home: Path) -> None:
        self.path = home / TOKEN_FILE
        self._seen: tuple[int, int] | None = None  # (mtime_ns, size) of what `_value` holds
        self._value = ""

    def value(self) -> str:
        """The token now (re-read when the file changed, made when there is none)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return self.rotate()
        if (stat.st_mtime_ns, stat.st_size) != self._seen:
            if stat.st_mode & 0o077:
                log.warning("%s was readable by others; made it owner-only (0600)", self.path)
                os.chmod(self.path, 0o600)
            text = self.path.read_text(encoding="utf-8").strip()
            if not text:
                return self.rotate()
            self._value, self._seen = text, (stat.st_mtime_ns, stat.st_size)
        return self._value

    def matches(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.value().encode())

    def rotate(self) -> str:
        """Write a new token (atomically, owner-only) and return it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(24)
        temporary = self.path.with_name(f".{TOKEN_FILE}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(token + "\n")
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        stat = self.path.stat()
        self._value, self._seen = token, (stat.st_mtime_ns, stat.st_size)
        return token


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost: it may resolve to anything


def check_bind(web: WebSettings) -> None:
    """Refuse, in one line, to serve the page beyond loopback without TLS or the owner's
    explicit say-so."""
    if is_loopback(web.host) or web.tls_cert:
        return
    if web.allow_remote:
        log.warning("web.host %s is not loopback and serves without TLS (allow_remote)", web.host)
        return
    raise ConfigError(
        f"web.host {web.host} is not loopback: the page and its token would cross the network "
        "unencrypted; set web.tls_cert and web.tls_key, or web.allow_remote = true behind your "
        "own TLS proxy, or use 127.0.0.1"
    )


def tls_context(web: WebSettings) -> ssl.SSLContext | None:
    """The server's TLS context from `web.tls_cert`/`web.tls_key` (None: plain HTTP)."""
    if not web.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(web.tls_cert, web.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"web.tls_cert {web.tls_cert} / web.tls_key {web.tls_key}: cannot load them "
            f"({exc}); give a PEM certificate and its private key"
        ) from exc
    return context
