"""How the command line finds a bot already serving the same TWIN_HOME.

`serve` writes `$TWIN_HOME/serve.json` (owner-only) once its local API listens: its pid,
the address the command line should call, and whether that is TLS; it removes the file
when it stops. A file whose pid is gone (a bot killed hard) is ignored. The token is the
web page's own (`$TWIN_HOME/web_token`, read at each call, so a rotated token works).

A command goes to the bot only when both sides resolve the same settings: the request
carries a fingerprint of the command line's config, and a bot with other settings (flags,
environment or a saved settings file) answers 409, after which the command runs here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Config

FILE = "serve.json"
TOKEN_FILE = "web_token"  # bot/web/access.py keeps the page's token there
CONFIG_HEADER = "X-Twin-Config"
# The [web] section may differ (`serve --port`, `--no-web`) without changing any answer.
_NOT_COMPARED = frozenset({"web"})


@dataclass(frozen=True, slots=True)
class RunningBot:
    """A bot serving this TWIN_HOME: where to reach its API and with which token."""

    url: str
    pid: int
    token: str
    tls_cert: str | None = None  # trusted for its TLS address (often self-signed)


def fingerprint(config: Config) -> str:
    """A digest of every setting that changes what search, drafts and ingest do: each
    config section's values (not where they came from), [web] aside."""
    from bot.config import SECTIONS

    sections = {
        name: dataclasses.asdict(getattr(config, name))
        for name in SECTIONS
        if name not in _NOT_COMPARED
    }
    text = json.dumps(sections, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def local_url(host: str, port: int, *, tls: bool) -> str:
    """The address a process on this machine calls: a wildcard bind is reached on loopback."""
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    netloc = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{netloc}:{port}"


@contextlib.contextmanager
def announced(home: Path, url: str, *, tls_cert: str | None = None) -> Iterator[None]:
    """Say in `home` that this process serves at `url` until the block ends."""
    path = home / FILE
    home.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"pid": os.getpid(), "url": url, "tls_cert": tls_cert}) + "\n"
    temporary = path.with_name(f".{FILE}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(body)
    os.replace(temporary, path)
    try:
        yield
    finally:
        # Another bot may have started on this home since (and announced itself): only
        # our own announcement is taken down.
        with contextlib.suppress(OSError, ValueError):
            if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
                path.unlink()


def running_bot(home: Path) -> RunningBot | None:
    """The bot announced in `home`, if its process is alive; None otherwise."""
    try:
        data = json.loads((home / FILE).read_text(encoding="utf-8"))
        pid, url = int(data["pid"]), str(data["url"])
        token = (home / TOKEN_FILE).read_text(encoding="utf-8").strip()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not token or not _alive(pid):
        return None
    cert = data.get("tls_cert")
    return RunningBot(url=url, pid=pid, token=token, tls_cert=str(cert) if cert else None)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process holds that pid now; the token check decides
    return True
