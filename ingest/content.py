"""Reading a response: its mime type (declared, checked or sniffed), its charset, and
when it asks us to come back (Retry-After).

Pure functions over header values and bytes, kept apart from the networking in
`ingest.fetcher` so each can be read (and tested) on its own.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Collection
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import charset_normalizer

from core.errors import FetchError

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/xml",
        "text/xml",
        "application/rdf+xml",
    }
)
TEXT_TYPES = frozenset({"text/plain", "text/markdown"})
DEFAULT_ACCEPT = HTML_TYPES | FEED_TYPES | TEXT_TYPES

_BINARY_PREFIXES = ("image/", "audio/", "video/", "font/", "model/", "application/vnd.")
_BINARY_TYPES = frozenset(
    {
        "application/octet-stream",
        "application/pdf",
        "application/zip",
        "application/gzip",
        "application/x-gzip",
        "application/x-tar",
        "application/wasm",
        "application/msword",
    }
)
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)


def parse_content_type(header: str) -> tuple[str, str | None]:
    mime, _, params = header.partition(";")
    match = _CHARSET_PARAM.search(params)
    return mime.strip().lower(), match.group(1) if match else None


def check_type(url: str, mime: str, accept: Collection[str]) -> None:
    if mime in accept:
        return
    structured_text = mime.endswith(("+xml", "+json"))  # e.g. application/vnd.api+json
    if (mime.startswith(_BINARY_PREFIXES) and not structured_text) or mime in _BINARY_TYPES:
        reason = f"binary content ({mime}); only web pages, feeds and text can be ingested"
        raise FetchError(url, reason)
    raise FetchError(url, f"unsupported content type {mime}; expected {', '.join(sorted(accept))}")


def sniff(body: bytes) -> str | None:
    """A mime type for a response without Content-Type, from its first bytes."""
    head = body[:1024].removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    feeds = (
        (b"<rss", "application/rss+xml"),
        (b"<feed", "application/atom+xml"),
        (b"<rdf:rdf", "application/rdf+xml"),
    )
    if head.startswith(b"<?xml"):
        found = [mime for tag, mime in feeds if tag in head]
        if b"<html" in head:
            found.append("application/xhtml+xml")
        return found[0] if found else "application/xml"
    for tag, mime in feeds:
        if head.startswith(tag):
            return mime
    html_starts = (b"<!doctype html", b"<html", b"<head", b"<body", b"<!--")
    return "text/html" if head.startswith(html_starts) or b"<html" in head else None


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_INLINE_CHARSET = re.compile(
    rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([\w.:-]+)"""
    rb"""|<meta[^>]*?charset\s*=\s*["']?\s*([\w.:-]+)""",
    re.IGNORECASE,
)
# C0/C1 controls other than whitespace, and U+FFFD: what a wrong single-byte guess produces.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufffd]")


def decode_charset(url: str, body: bytes, declared: str | None) -> str:
    """The codec that decodes `body` into plausible text, or FetchError(url, ...).

    Order: BOM (it cannot lie) → Content-Type charset → <meta>/XML declaration → UTF-8 →
    charset_normalizer's best guess. Each is tried strictly; text full of control
    characters counts as a failure, since single-byte codecs accept any bytes.
    """
    bom = next((enc for mark, enc in _BOMS if body.startswith(mark)), None)
    match = _INLINE_CHARSET.search(body[:4096])
    inline = (match.group(1) or match.group(2)).decode("ascii") if match else None
    if inline and inline.lower().startswith(("utf-16", "utf-32")):
        inline = "utf-8"  # a meta tag readable as ASCII cannot really be UTF-16 (WHATWG)
    for name in (bom, declared, inline, "utf-8"):
        codec = _plausible_codec(body, name)
        if codec is not None:
            return codec
    best = charset_normalizer.from_bytes(body).best()
    codec = _plausible_codec(body, best.encoding if best is not None else None)
    if codec is not None:
        return codec
    raise FetchError(
        url,
        f"cannot decode the text (declared {declared or 'no charset'}): the bytes are not"
        " valid in that or any detected charset; the page may be binary or corrupt",
    )


def _plausible_codec(body: bytes, name: str | None) -> str | None:
    if not name:
        return None
    try:
        codec = codecs.lookup(name).name
        if codec == "utf-7":  # never accepted on the web: a known script-smuggling route
            return None
        text = body.decode(codec)
    except (LookupError, UnicodeError):
        return None
    return codec if len(_CONTROL.findall(text)) * 100 <= len(text) else None


def is_textual(mime: str) -> bool:
    """Whether a body of this type is text to decode (an accepted PDF would not be)."""
    return mime.startswith("text/") or mime.endswith(("xml", "json"))


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP-date."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
