"""Refusing an input before anything is opened: a link's syntax and scheme, its host
against the SSRF guard, a path that is not there or holds nothing readable, a zip that is
not a platform export (or not the one named).

The command line asks this before it loads a model or opens the index, so a mistyped or
forbidden input costs a fraction of a second. Each refusal is worded exactly as the
pipeline words it (tests/ingest/test_precheck.py compares them), and the pipeline checks
everything again when it runs: a name may resolve elsewhere by then.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core.errors import InputError, TwinError
from ingest.addresses import AddressPolicy, is_localhost_name, literal_ip, refusal_reason
from ingest.settings import MB, ExportsSettings, FetchPolicy
from ingest.urls import looks_like_url, normalize_url

__all__ = ["refusal"]

# A name that does not resolve this fast is left to the fetcher (which has its timeouts).
RESOLVE_SECONDS = 2.0
_LOCALHOST = ("127.0.0.1", "::1")
Stored = Callable[[str], Mapping[str, Any]]


def refusal(
    raw: str,
    *,
    policy: FetchPolicy,
    exports: ExportsSettings,
    hints: Mapping[str, Any] | None = None,
    stored: Stored | None = None,
) -> str | None:
    """Why `raw` (a link or, as on the command line, a local path) would be refused, as the
    pipeline would say it; None when it may go ahead. `hints` are the owner's (`kind` of
    an export); `stored(source_url)` is what the warehouse keeps of a known source (its
    crawl state, which remembers how an export was read)."""
    text = raw.strip()
    try:
        if looks_like_url(text):
            _check_link(normalize_url(text), policy)
            return None
        path = Path(text).expanduser().resolve()
        state = {**(stored(path.as_uri()) if stored else {}), **(hints or {})}
        _check_path(path, exports, state.get("kind"))
    except InputError as exc:
        return str(exc)
    except TwinError as exc:  # e.g. the policy's own allowed_networks are malformed
        return f"{raw}: {exc}"
    return None


def _check_link(url: str, policy: FetchPolicy) -> None:
    """The SSRF guard on the link's host, as the fetcher applies it: an IP literal as it
    is, `localhost` as loopback, a name by what it resolves to now."""
    guard = AddressPolicy(policy.allow_private_networks, policy.allowed_networks)
    host = urlsplit(url).hostname or ""
    ip = literal_ip(host)
    addresses = [ip] if ip is not None else _resolve(host)
    for address in addresses:
        kind = guard.refusal(address)
        if kind is not None:
            raise InputError(url, refusal_reason(address, host, kind))


def _resolve(host: str) -> list[str]:
    """What `host` resolves to, or [] when it does not within RESOLVE_SECONDS."""
    if is_localhost_name(host):
        return list(_LOCALHOST)
    found: list[str] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return
        found.extend(dict.fromkeys(str(info[4][0]) for info in infos))

    # getaddrinfo has no timeout of its own; a daemon thread lets a slow resolver be.
    worker = threading.Thread(target=lookup, name="precheck-dns", daemon=True)
    worker.start()
    worker.join(RESOLVE_SECONDS)
    return [] if worker.is_alive() else found


def _check_path(path: Path, exports: ExportsSettings, kind: Any) -> None:
    """What reading `path` would refuse: a file or folder as the local extractor reads
    it, a .zip as the export importers do (`ingest/paths.py` routes them the same way)."""
    if path.suffix.lower() == ".zip" and path.is_file():
        from ingest.exports import check_export
        from ingest.exports.archive import ZipLimits

        limits = ZipLimits(
            max_total_bytes=exports.max_total_mb * MB,
            max_files=exports.max_files,
            max_file_bytes=exports.max_file_mb * MB,
        )
        check_export(path, kind if isinstance(kind, str) and kind.strip() else None, limits=limits)
        return
    from ingest.extractors.local import check_path

    check_path(path)
