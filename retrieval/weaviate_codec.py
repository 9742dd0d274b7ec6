"""Translations between our records and weaviate-client's: the server address, search
filters, stored objects, and the per-leg scores of a hybrid hit. weaviate-client is
imported lazily, so this module loads without the `weaviate` extra.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from core.errors import ConfigError
from retrieval.types import Chunk, SearchFilters
from retrieval.weaviate_schema import PROPERTY_NAMES

if TYPE_CHECKING:
    from weaviate.classes.query import FilterReturn

# One line of Weaviate's explain_score per result set that found the object, e.g.
# "Hybrid (Result Set keyword,bm25) Document <uuid>: original score 2.5, normalized ..."
_LEG = re.compile(
    r"Hybrid \(Result Set (keyword|vector),[^)]*\) Document [^:]*: original score (\S+?),"
)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a self-hosted Weaviate answers: REST (HTTP) and gRPC."""

    http_host: str
    http_port: int
    http_secure: bool
    grpc_host: str
    grpc_port: int
    grpc_secure: bool


def endpoint(url: str, grpc_url: str | None = None) -> Endpoint:
    """`http(s)://host[:port]` for REST; gRPC defaults to the same host on port 50051,
    with TLS when REST has it."""
    http_host, http_port, http_secure = _split(url, "index.weaviate_url")
    if not grpc_url:
        return Endpoint(http_host, http_port, http_secure, http_host, 50051, http_secure)
    return Endpoint(http_host, http_port, http_secure, *_split(grpc_url, "index.weaviate_grpc_url"))


def _split(url: str, key: str) -> tuple[str, int, bool]:
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise ConfigError(
            f"{url!r} is not a Weaviate address; write it as http://host:port or "
            f"https://host (config key {key})"
        )
    secure = parts.scheme == "https"
    return parts.hostname, port or (443 if secure else 80), secure


def chunk_uuid(chunk_id: str) -> str:
    """The object id of a chunk: the same chunk id always names the same object."""
    from weaviate.util import generate_uuid5

    return generate_uuid5(chunk_id)


def where_filter(filters: SearchFilters | None) -> FilterReturn | None:
    """The Weaviate filter for `filters`; the date window is [after, before)."""
    if filters is None or filters.is_empty():
        return None
    from weaviate.classes.query import Filter

    parts = []
    if filters.platforms:
        parts.append(Filter.by_property("platform").contains_any(list(filters.platforms)))
    if filters.authors:
        parts.append(Filter.by_property("author").contains_any(list(filters.authors)))
    if filters.published_after is not None:
        after = _utc(filters.published_after)
        parts.append(Filter.by_property("published_at").greater_or_equal(after))
    if filters.published_before is not None:
        before = _utc(filters.published_before)
        parts.append(Filter.by_property("published_at").less_than(before))
    return Filter.all_of(parts)


def leg_scores(explain: str | None) -> tuple[float | None, float | None]:
    """(BM25 score, cosine similarity) from a hybrid hit's explain_score; None for a leg
    that did not find the object. Weaviate's vector leg scores 1 - cosine distance."""
    found: dict[str, float] = {}
    for leg, raw in _LEG.findall(explain or ""):
        found.setdefault(leg, float(raw))
    return found.get("keyword"), found.get("vector")


def object_properties(chunk: Chunk) -> dict[str, Any]:
    props = {name: getattr(chunk, name) for name in PROPERTY_NAMES if name != "published_at"}
    if chunk.published_at is not None:  # absent, not null: a date filter skips it
        props["published_at"] = _utc(chunk.published_at)
    return props


def chunk_from(props: Mapping[str, Any]) -> Chunk:
    """A stored object's properties as a `Chunk` (the vector is not read back)."""
    published = props.get("published_at")
    return Chunk(
        chunk_id=str(props["chunk_id"]),
        document_id=str(props["document_id"]),
        ordinal=int(props["ordinal"]),
        text=str(props.get("text") or ""),
        url=str(props.get("url") or ""),
        title=str(props.get("title") or ""),
        platform=str(props.get("platform") or ""),
        author=str(props.get("author") or ""),
        published_at=None if published is None else _utc(published),
    )


def _utc(moment: datetime) -> datetime:
    """Naive datetimes are taken to be UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else "no details"
    return f"{type(exc).__name__}: {text[:300]}"
