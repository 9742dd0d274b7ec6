"""Turning what the owner typed into one canonical http(s) URL, or a clear refusal.

The canonical form matters beyond validation: document ids are derived from URLs, so
`HTTP://Example.com:80/a#top` and `http://example.com/a` must come out the same.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, quote, urlsplit, urlunsplit

from core.errors import InputError

SUPPORTED = "only http:// and https:// links can be ingested"
_DEFAULT_PORTS = {"http": 80, "https": 443}
# A scheme per RFC 3986; two characters at least so `C:\notes.md` stays a path.
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]+):")
_HOST_PORT = re.compile(r"^[^:/]+:\d+(?:[/?#]|$)")  # `localhost:8080/x`, not a scheme
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_\-]*[a-z0-9_])?$")
# Numeric hosts that are not plain dotted quads (`2130706433`, `127.1`, `0x7f.1`): resolvers
# quietly turn them into addresses, which is how filters get bypassed; refuse them outright.
_NUMERIC_HOST = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+))*\.?$")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def looks_like_url(text: str) -> bool:
    """True for `scheme:...` or `www.` input; the CLI treats everything else as a path."""
    stripped = text.strip()
    return bool(_SCHEME.match(stripped)) or stripped.lower().startswith("www.")


def normalize_url(raw: str) -> str:
    """Return the canonical form of an http(s) URL or raise `InputError(raw, reason)`.

    Lowercases scheme and host (IDNA-encoded), drops the default port and the fragment,
    keeps path and query as given; a bare `www.` host gets https://.
    """
    text = raw.strip()
    if not text:
        raise InputError(raw, f"empty link; {SUPPORTED}")
    if text.lower().startswith("www."):
        text = "https://" + text
    if any(ch.isspace() for ch in text):
        raise InputError(raw, "link contains whitespace; write spaces as %20")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise InputError(raw, "link contains control characters")
    if "\\" in text:
        # Browsers read `\` as `/`, parsers disagree: a classic way to smuggle a host.
        raise InputError(raw, "link contains a backslash; use / in URLs")
    match = _SCHEME.match(text)
    if match is None or _HOST_PORT.match(text):
        raise InputError(raw, f"missing scheme; {SUPPORTED} (e.g. https://example.com/post)")
    scheme = match.group(1).lower()
    if scheme not in _DEFAULT_PORTS:
        raise InputError(raw, f"unsupported scheme '{scheme}:'; {SUPPORTED}")
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise InputError(raw, f"malformed link ({exc}); {SUPPORTED}") from None
    try:
        port = parts.port
    except ValueError as exc:
        raise InputError(raw, f"invalid port ({exc}); use a number from 1 to 65535") from None
    if not text[len(scheme) + 1 :].startswith("//"):
        raise InputError(raw, f"missing host; {SUPPORTED} (e.g. https://example.com/post)")
    if parts.username is not None or parts.password is not None:
        raise InputError(raw, "links with a user name or password (user@host) are not supported")
    host = _canonical_host(raw, parts)
    if port == 0:
        raise InputError(raw, "port 0 is not a valid port")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    path, query = _encode_non_ascii(parts.path) or "/", _encode_non_ascii(parts.query)
    return str(urlunsplit((scheme, netloc, path, query, "")))


def _encode_non_ascii(text: str) -> str:
    # Percent-encode only what is not ASCII, so `/café` and `/caf%C3%A9` become one URL
    # without touching escapes the site chose.
    return _NON_ASCII.sub(lambda m: quote(m.group(0), safe=""), text)


def _canonical_host(raw: str, parts: SplitResult) -> str:
    host = parts.hostname or ""
    if not host:
        raise InputError(raw, f"missing host; {SUPPORTED} (e.g. https://example.com/post)")
    if ":" in host:  # urlsplit only yields a colon here for a bracketed IPv6 literal
        if "%" in host:
            raise InputError(raw, "IPv6 zone ids (%25eth0) are not supported in links")
        try:
            return ipaddress.IPv6Address(host).compressed
        except ValueError:
            raise InputError(raw, f"invalid IPv6 address '{host}'") from None
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InputError(raw, f"invalid host name '{host}'") from None
    if _NUMERIC_HOST.match(ascii_host) and not _is_dotted_quad(ascii_host):
        raise InputError(raw, f"numeric host '{host}' is not a dotted IPv4 address (a.b.c.d)")
    labels = ascii_host.removesuffix(".").split(".")
    if len(ascii_host) > 253 or not all(
        len(label) <= 63 and _LABEL.match(label) for label in labels
    ):
        raise InputError(raw, f"invalid host name '{host}'")
    return ascii_host


def _is_dotted_quad(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)  # rejects leading zeros, which some resolvers read as octal
    except ValueError:
        return False
    return True
