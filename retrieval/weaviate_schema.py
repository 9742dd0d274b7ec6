"""What the Weaviate backend stores and how it checks an existing collection.

Pure functions over weaviate-client's config classes (imported lazily, so this module loads
without the `weaviate` extra): the property list, the arguments of `collections.create`,
the manifest kept in the collection's description, and the comparison of a collection
found on the server with the one we would create.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError, StorageError
from retrieval.index import IndexManifest

if TYPE_CHECKING:
    from weaviate.collections.classes.config import CollectionConfig, Property

DEFAULT_COLLECTION = "TwinChunk"
# The one vector of each object; hybrid search targets it by default.
VECTOR_NAME = "default"
# (name, data type, tokenization). WORD: lowercased words, for BM25. FIELD: the whole
# trimmed value as one token, for exact-match filters. Non-text properties have none.
# fmt: off
PROPERTIES: tuple[tuple[str, str, str | None], ...] = (
    ("text", "text", "word"),
    ("title", "text", "word"),
    ("chunk_id", "text", "field"),
    ("document_id", "text", "field"),
    ("url", "text", "field"),
    ("platform", "text", "field"),
    ("author", "text", "field"),
    ("ordinal", "int", None),
    ("published_at", "date", None),
)
# fmt: on
PROPERTY_NAMES = [name for name, _, _ in PROPERTIES]
_MARKER = "llm-twin index manifest: "
_COLLECTION_NAME = re.compile(r"[A-Z][_0-9A-Za-z]*")
_TENANT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def check_collection_name(name: str) -> str:
    if not _COLLECTION_NAME.fullmatch(name):
        raise ConfigError(
            f"{name!r} is not a Weaviate collection name: use letters, digits and _, starting "
            f"with a capital letter (config key index.weaviate_collection, default "
            f"{DEFAULT_COLLECTION!r})"
        )
    return name


def check_tenant_name(name: str) -> str:
    if not _TENANT_NAME.fullmatch(name):
        raise ConfigError(
            f"{name!r} is not a Weaviate tenant name: use 1 to 64 letters, digits, _ or - "
            "(config key index.weaviate_tenant; leave it empty for no multi-tenancy)"
        )
    return name


def properties() -> list[Property]:
    from weaviate.classes.config import DataType, Property, Tokenization

    return [
        Property(
            name=name,
            data_type=DataType(kind),
            tokenization=None if token is None else Tokenization(token),
            # Only `text` (and `title`) take part in BM25; ids and labels are filters.
            index_searchable=token == "word" if token is not None else None,
            index_range_filters=True if kind == "date" else None,
        )
        for name, kind, token in PROPERTIES
    ]


def create_arguments(
    name: str,
    manifest: IndexManifest,
    *,
    multi_tenancy: bool,
    shards: int | None,
    replication_factor: int | None,
) -> dict[str, Any]:
    """Keyword arguments of `client.collections.create` for our collection. None for
    shards or replication leaves the server's default (a cluster may enforce a minimum)."""
    from weaviate.classes.config import Configure, VectorDistances

    hnsw = Configure.VectorIndex.hnsw(distance_metric=VectorDistances.COSINE)
    arguments: dict[str, Any] = {
        "name": name,
        "description": encode_manifest(manifest),
        "properties": properties(),
        # No server-side vectorizer: we send our own embeddings.
        "vector_config": Configure.Vectors.self_provided(
            name=VECTOR_NAME, vector_index_config=hnsw
        ),
    }
    if replication_factor is not None:
        arguments["replication_config"] = Configure.replication(factor=replication_factor)
    if multi_tenancy:
        # Each tenant is its own shard, so no sharding config; tenants are created
        # explicitly (a typo in a tenant name must not create an empty index).
        arguments["multi_tenancy_config"] = Configure.multi_tenancy(
            enabled=True, auto_tenant_creation=False, auto_tenant_activation=True
        )
    elif shards is not None:
        arguments["sharding_config"] = Configure.sharding(desired_count=shards)
    return arguments


def encode_manifest(manifest: IndexManifest) -> str:
    """The collection description: a sentence for people, then the manifest as JSON."""
    payload = json.dumps(asdict(manifest), sort_keys=True, separators=(",", ":"))
    return f"Chunks of the LLM Twin corpus. {_MARKER}{payload}"


def decode_manifest(description: str | None, where: str) -> IndexManifest | None:
    """The manifest in a collection description; None when the collection is not ours."""
    if not description or _MARKER not in description:
        return None
    payload = description.split(_MARKER, 1)[1]
    try:
        return IndexManifest(**json.loads(payload))
    except (ValueError, TypeError) as exc:
        raise StorageError(
            f"the index manifest of {where} is unreadable ({exc}). "
            "Run `llm-twin reindex` to rebuild the index from the warehouse."
        ) from exc


@dataclass(frozen=True, slots=True)
class CollectionShape:
    """What of a collection's schema our reads and writes depend on."""

    properties: Mapping[str, tuple[str, str | None]]  # name -> (data type, tokenization)
    vectors: Mapping[str, tuple[str, str]]  # name -> (vectorizer, distance)
    multi_tenancy: bool


def expected_shape(*, multi_tenancy: bool) -> CollectionShape:
    return CollectionShape(
        properties={name: (kind, token) for name, kind, token in PROPERTIES},
        vectors={VECTOR_NAME: ("none", "cosine")},
        multi_tenancy=multi_tenancy,
    )


def shape_of(config: CollectionConfig) -> CollectionShape:
    """The shape of a collection as `collection.config.get()` reports it."""
    vectors: dict[str, tuple[str, str]] = {}
    for name, vector in (config.vector_config or {}).items():
        distance = getattr(vector.vector_index_config, "distance_metric", None)
        vectors[name] = (_value(vector.vectorizer.vectorizer), _value(distance))
    if not vectors and config.vectorizer is not None:  # a collection without named vectors
        distance = getattr(config.vector_index_config, "distance_metric", None)
        vectors[""] = (_value(config.vectorizer), _value(distance))
    return CollectionShape(
        properties={
            p.name: (
                _value(p.data_type),
                None if p.tokenization is None else _value(p.tokenization),
            )
            for p in config.properties
        },
        vectors=vectors,
        multi_tenancy=bool(config.multi_tenancy_config.enabled),
    )


def shape_differences(expected: CollectionShape, found: CollectionShape) -> list[str]:
    """What differs, one phrase each; empty when the found collection is usable."""
    diffs = []
    for name, want in expected.properties.items():
        got = found.properties.get(name)
        if got is None:
            diffs.append(f"property {name!r} is missing")
        elif got != want:
            diffs.append(f"property {name!r} is {_kind(got)}, expected {_kind(want)}")
    diffs += [
        f"unexpected property {name!r}" for name in found.properties.keys() - expected.properties
    ]
    if dict(found.vectors) != dict(expected.vectors):
        diffs.append(
            f"vectors are {_vectors(found.vectors)}, expected {_vectors(expected.vectors)}"
        )
    if found.multi_tenancy != expected.multi_tenancy:
        state = "on" if found.multi_tenancy else "off"
        diffs.append(f"multi-tenancy is {state}, the config says the opposite")
    return diffs


def _value(enum_or_str: Any) -> str:
    return str(getattr(enum_or_str, "value", enum_or_str))


def _kind(kind: tuple[str, str | None]) -> str:
    data_type, token = kind
    return data_type if token is None else f"{data_type} ({token} tokenization)"


def _vectors(vectors: Mapping[str, tuple[str, str]]) -> str:
    if not vectors:
        return "none"
    return ", ".join(
        f"{n or '(unnamed)'}: vectorizer {v}, distance {d}" for n, (v, d) in vectors.items()
    )
