"""The Weaviate backend without a server: what it would send and how it reads replies.

Each test drives weaviate-client's own classes (its config validation and JSON encoding,
its schema parser, its filters) or the real client against a closed loopback port. The
server-side behaviour is the contract suite's (`test_index_contract.py`, marker
`weaviate`).
"""

from __future__ import annotations

import copy
import socket
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("weaviate", reason="needs weaviate-client (pip install -e '.[weaviate]')")

from weaviate.collections.classes.config import _CollectionConfigCreate
from weaviate.collections.classes.config_methods import _collection_config_from_json
from weaviate.collections.classes.filters import _FilterAnd, _Filters, _FilterValue
from weaviate.exceptions import WeaviateConnectionError, WeaviateQueryError

from core.errors import ConfigError, StorageError
from retrieval.index import IndexManifest, open_index
from retrieval.types import Chunk, SearchFilters
from retrieval.weaviate import WeaviateIndex
from retrieval.weaviate_codec import (
    Endpoint,
    chunk_from,
    chunk_uuid,
    endpoint,
    leg_scores,
    object_properties,
    where_filter,
)
from retrieval.weaviate_collection import client_errors
from retrieval.weaviate_schema import (
    DEFAULT_COLLECTION,
    create_arguments,
    decode_manifest,
    encode_manifest,
    expected_shape,
    properties,
    shape_differences,
    shape_of,
)

MANIFEST = IndexManifest(
    embedding_model="sentence-transformers/all-MiniLM-L6-v2",
    dimension=384,
    chunk_tokens=200,
    chunk_overlap=32,
)
ROOT = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- the collection definition ---------------------------------------------------------


def test_properties_tokenize_text_for_bm25_and_ids_for_exact_filters() -> None:
    got = {
        p.name: (p.dataType.value, p.tokenization.value if p.tokenization else None)
        for p in properties()
    }
    assert got == {
        "text": ("text", "word"),
        "title": ("text", "word"),
        "chunk_id": ("text", "field"),
        "document_id": ("text", "field"),
        "url": ("text", "field"),
        "platform": ("text", "field"),
        "author": ("text", "field"),
        "ordinal": ("int", None),
        "published_at": ("date", None),
    }


def create_request(**overrides: Any) -> dict[str, Any]:
    """The JSON body weaviate-client would POST to /v1/schema for our collection."""
    options: dict[str, Any] = {
        "multi_tenancy": False,
        "shards": None,
        "replication_factor": None,
    } | overrides
    arguments = create_arguments("TwinChunk", MANIFEST, **options)
    body: dict[str, Any] = _CollectionConfigCreate(**arguments)._to_dict()
    return body


def test_create_request_has_self_provided_cosine_vectors_and_the_manifest() -> None:
    body = create_request()
    assert body["class"] == "TwinChunk"
    assert body["vectorConfig"] == {
        "default": {
            "vectorizer": {"none": {}},  # no server-side vectorizer
            "vectorIndexType": "hnsw",
            "vectorIndexConfig": {"distance": "cosine"},
        }
    }
    assert decode_manifest(body["description"], "here") == MANIFEST
    searchable = {p["name"] for p in body["properties"] if p.get("indexSearchable")}
    assert searchable == {"text", "title"}
    assert "shardingConfig" not in body and "replicationConfig" not in body  # server defaults
    assert "multiTenancyConfig" not in body


def test_create_request_carries_the_scale_settings() -> None:
    body = create_request(shards=3, replication_factor=2)
    assert body["shardingConfig"]["desiredCount"] == 3
    assert body["replicationConfig"] == {"factor": 2}


def test_multi_tenant_collection_creates_tenants_explicitly_and_has_no_sharding() -> None:
    body = create_request(multi_tenancy=True, shards=3)
    assert body["multiTenancyConfig"] == {
        "enabled": True,
        "autoTenantCreation": False,
        "autoTenantActivation": True,
    }
    assert "shardingConfig" not in body  # each tenant is one shard


def as_server_returns(body: dict[str, Any]) -> dict[str, Any]:
    """What GET /v1/schema/{class} answers for a collection created from `body`: the
    request plus the defaults the server fills in."""
    schema = copy.deepcopy(body)
    schema["invertedIndexConfig"] = {
        "bm25": {"b": 0.75, "k1": 1.2},
        "cleanupIntervalSeconds": 60,
        "stopwords": {"preset": "en", "additions": None, "removals": None},
    }
    schema.setdefault("replicationConfig", {"factor": 1})
    schema.setdefault("multiTenancyConfig", {"enabled": False})
    schema["shardingConfig"] = {
        "virtualPerPhysical": 128,
        "desiredCount": schema.get("shardingConfig", {}).get("desiredCount", 1),
        "actualCount": 1,
        "desiredVirtualCount": 128,
        "actualVirtualCount": 128,
        "key": "_id",
        "strategy": "hash",
        "function": "murmur3",
    }
    for prop in schema["properties"]:
        prop.pop("skip_vectorization", None)
        prop.pop("vectorize_property_name", None)
        prop.setdefault("indexFilterable", True)
        prop.setdefault("indexSearchable", prop["dataType"] == ["text"])
    for vector in schema["vectorConfig"].values():
        vector["vectorIndexConfig"] |= {
            "cleanupIntervalSeconds": 300,
            "dynamicEfMin": 100,
            "dynamicEfMax": 500,
            "dynamicEfFactor": 8,
            "ef": -1,
            "efConstruction": 128,
            "flatSearchCutoff": 40000,
            "maxConnections": 32,
            "skip": False,
            "vectorCacheMaxObjects": 1000000000000,
        }
    return schema


@pytest.mark.parametrize("multi_tenancy", [False, True])
def test_a_collection_we_created_reads_back_as_the_expected_shape(multi_tenancy: bool) -> None:
    config = _collection_config_from_json(
        as_server_returns(create_request(multi_tenancy=multi_tenancy))
    )
    assert shape_of(config) == expected_shape(multi_tenancy=multi_tenancy)
    assert shape_differences(expected_shape(multi_tenancy=multi_tenancy), shape_of(config)) == []
    assert decode_manifest(config.description, "here") == MANIFEST


def test_shape_differences_name_each_problem() -> None:
    schema = as_server_returns(create_request())
    schema["properties"] = [p for p in schema["properties"] if p["name"] != "ordinal"]
    for prop in schema["properties"]:
        if prop["name"] == "platform":
            prop["tokenization"] = "word"
    schema["properties"].append(
        {"name": "extra", "dataType": ["text"], "indexFilterable": True, "indexSearchable": True}
    )
    schema["vectorConfig"]["default"]["vectorIndexConfig"]["distance"] = "dot"
    found = shape_of(_collection_config_from_json(schema))
    problems = shape_differences(expected_shape(multi_tenancy=True), found)
    assert problems == [
        "property 'platform' is text (word tokenization), expected text (field tokenization)",
        "property 'ordinal' is missing",
        "unexpected property 'extra'",
        "vectors are default: vectorizer none, distance dot, "
        "expected default: vectorizer none, distance cosine",
        "multi-tenancy is off, the config says the opposite",
    ]


# --- the manifest in the collection description -----------------------------------------


def test_manifest_round_trips_through_the_description() -> None:
    text = encode_manifest(MANIFEST)
    assert text.startswith("Chunks of the LLM Twin corpus.")
    assert decode_manifest(text, "here") == MANIFEST
    other = replace(MANIFEST, embedding_model='a "quoted" model', dimension=8)
    assert decode_manifest(encode_manifest(other), "here") == other


@pytest.mark.parametrize("description", [None, "", "Somebody else's articles"])
def test_a_description_without_our_manifest_is_not_ours(description: str | None) -> None:
    assert decode_manifest(description, "here") is None


def test_a_damaged_manifest_says_to_reindex() -> None:
    damaged = encode_manifest(MANIFEST)[:-10]
    with pytest.raises(StorageError, match=r"unreadable .*llm-twin reindex"):
        decode_manifest(damaged, "http://db:8080 (collection TwinChunk)")


# --- ids, objects, filters and scores ---------------------------------------------------


def test_chunk_uuid_is_a_deterministic_uuid5_of_the_chunk_id() -> None:
    first = chunk_uuid("doc#0")
    assert first == chunk_uuid("doc#0")
    assert first == str(uuid.uuid5(uuid.NAMESPACE_DNS, "doc#0"))  # generate_uuid5's recipe
    assert uuid.UUID(first).version == 5
    assert chunk_uuid("doc#1") != first
    assert first == "31fca793-0488-5144-b2a0-32be5c8554f2"  # stable across releases


def chunk(published_at: datetime | None) -> Chunk:
    return Chunk(
        chunk_id="doc#3",
        document_id="doc",
        ordinal=3,
        text="provenance matters",
        url="https://example.com/doc",
        title="Title of doc",
        platform="medium",
        author="Ada Lovelace",
        published_at=published_at,
        vector=np.ones(4, dtype=np.float32),
    )


def test_objects_round_trip_with_dates_as_utc_instants() -> None:
    when = datetime(2023, 3, 4, 5, 6, 7, 123456, tzinfo=timezone(timedelta(hours=-5)))
    props = object_properties(chunk(when))
    assert props["published_at"] == datetime(2023, 3, 4, 10, 6, 7, 123456, tzinfo=UTC)
    assert "vector" not in props
    back = chunk_from(props)
    assert back == chunk(when)
    assert back.published_at is not None and back.published_at.utcoffset() == timedelta(0)


def test_an_undated_chunk_stores_no_date_and_reads_back_undated() -> None:
    props = object_properties(chunk(None))
    assert "published_at" not in props  # absent: date filters skip it
    assert chunk_from(props).published_at is None


def test_naive_dates_are_taken_as_utc() -> None:
    props = object_properties(chunk(datetime(2024, 1, 1, 12, 0)))
    assert props["published_at"] == datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def flat(f: _Filters) -> Any:
    """A filter as plain data: (target, operator, value) leaves under ("And", [...])."""
    if isinstance(f, _FilterAnd):
        return ("And", [flat(part) for part in f.filters])
    assert isinstance(f, _FilterValue)
    return (f.target, f.operator.value, f.value)


@pytest.mark.parametrize("filters", [None, SearchFilters()])
def test_no_filters_means_no_where(filters: SearchFilters | None) -> None:
    assert where_filter(filters) is None


def test_one_filter_is_not_wrapped() -> None:
    f = where_filter(SearchFilters(platforms=("medium", "github")))
    assert f is not None
    assert flat(f) == ("platform", "ContainsAny", ["medium", "github"])


def test_filters_translate_to_one_conjunction_with_a_half_open_utc_window() -> None:
    after = datetime(2024, 6, 1, 2, 0, tzinfo=timezone(timedelta(hours=3)))
    before = datetime(2024, 12, 1)  # naive: UTC
    f = where_filter(
        SearchFilters(
            platforms=("linkedin",),
            authors=("Ada Lovelace", "Grace Hopper"),
            published_after=after,
            published_before=before,
        )
    )
    assert f is not None
    assert flat(f) == (
        "And",
        [
            ("platform", "ContainsAny", ["linkedin"]),
            ("author", "ContainsAny", ["Ada Lovelace", "Grace Hopper"]),
            ("published_at", "GreaterThanEqual", datetime(2024, 5, 31, 23, 0, tzinfo=UTC)),
            ("published_at", "LessThan", datetime(2024, 12, 1, tzinfo=UTC)),
        ],
    )


# The explain_score lines below follow Weaviate's FusionRelativeScore format string:
# "Hybrid (Result Set %v) Document %v: original score %v, normalized score: %v", joined
# with " - " for an object both legs found, after the BM25 leg's own explanation.
DOC = "7b1f0a4e-8a1c-5d2e-9f3b-0c4d5e6f7a8b"
BM25_LINE = (
    f"Hybrid (Result Set keyword,bm25) Document {DOC}: original score 2.4712, normalized score: 0.5"
)
VECTOR_LINE = (
    f"Hybrid (Result Set vector,hybridVector) Document {DOC}: original score 0.99980015, "
    "normalized score: 0.5"
)


def test_leg_scores_from_both_legs() -> None:
    explain = f", BM25F_llama_frequency:1, BM25F_llama_propLength:4\n{BM25_LINE} - \n{VECTOR_LINE}"
    assert leg_scores(explain) == (2.4712, 0.99980015)


def test_leg_scores_of_one_leg_leave_the_other_none() -> None:
    assert leg_scores("\n" + BM25_LINE) == (2.4712, None)
    assert leg_scores("\n" + VECTOR_LINE) == (None, 0.99980015)
    tiny = VECTOR_LINE.replace("0.99980015", "1e-05")
    assert leg_scores(tiny) == (None, 1e-05)


@pytest.mark.parametrize("explain", [None, "", "something else entirely"])
def test_leg_scores_without_an_explanation(explain: str | None) -> None:
    assert leg_scores(explain) == (None, None)


# --- addresses and settings -------------------------------------------------------------


def test_endpoint_defaults_grpc_to_the_same_host() -> None:
    assert endpoint("http://localhost:8080") == Endpoint(
        "localhost", 8080, False, "localhost", 50051, False
    )
    assert endpoint("https://weaviate.example.com") == Endpoint(
        "weaviate.example.com", 443, True, "weaviate.example.com", 50051, True
    )


def test_endpoint_takes_a_separate_grpc_address() -> None:
    assert endpoint("http://10.0.0.5:8080", "https://grpc.example.com:8443") == Endpoint(
        "10.0.0.5", 8080, False, "grpc.example.com", 8443, True
    )


@pytest.mark.parametrize("url", ["localhost:8080", "ftp://host", "http://", "http://host:99999"])
def test_a_bad_address_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match=r"index\.weaviate_url"):
        endpoint(url)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"collection": "twin chunks"}, "not a Weaviate collection name"),
        ({"tenant": "ada lovelace"}, "not a Weaviate tenant name"),
        ({"consistency": "MOST"}, "ONE, QUORUM, ALL"),
        ({"shards": 0}, r"index\.weaviate_shards must be at least 1"),
        ({"replication_factor": 0}, "must be at least 1"),
        ({"cloud": True}, "TWIN_INDEX__WEAVIATE_API_KEY"),
    ],
)
def test_bad_settings_fail_before_connecting(options: dict[str, Any], message: str) -> None:
    # The port is closed: had it tried to connect, this would be a StorageError.
    with pytest.raises(ConfigError, match=message):
        WeaviateIndex(MANIFEST, url=f"http://127.0.0.1:{closed_port()}", **options)


def test_default_collection_name_is_valid() -> None:
    assert DEFAULT_COLLECTION == "TwinChunk"


# --- the real client, no server -----------------------------------------------------------


def test_a_server_that_is_down_is_a_storage_error_naming_the_url() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(StorageError) as caught:
        WeaviateIndex(MANIFEST, url=url, timeout_s=5)
    message = str(caught.value)
    assert f"cannot reach the Weaviate server at {url}" in message
    assert "Start it or fix index.weaviate_url" in message
    assert "\n" not in message


def test_open_index_finds_the_weaviate_backend() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(StorageError, match=url):
        open_index("weaviate", manifest=MANIFEST, url=url, timeout_s=5)


def test_failures_mid_call_become_one_line_storage_errors() -> None:
    index = WeaviateIndex.__new__(WeaviateIndex)  # the mapping alone; no connection
    index.url = "http://db.internal:8080"
    index._errors = client_errors()
    for failure in (
        WeaviateConnectionError("Connection to Weaviate failed.\nDetails: reset by peer"),
        WeaviateQueryError("Socket closed\nmore", "GRPC search"),
    ):
        with pytest.raises(StorageError) as caught, index._talking("searching"):
            raise failure
        message = str(caught.value)
        assert message.startswith("the Weaviate server at http://db.internal:8080 failed while ")
        assert type(failure).__name__ in message and "\n" not in message
    with pytest.raises(ValueError, match="ours"), index._talking("searching"):
        raise ValueError("ours pass unchanged")


def test_without_the_extra_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "weaviate.exceptions", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"pip install 'llm-twin\[weaviate\]'"):
        open_index("weaviate", manifest=MANIFEST, url=f"http://127.0.0.1:{closed_port()}")


def test_the_package_imports_without_loading_weaviate_client() -> None:
    code = (
        "import sys, retrieval.index, retrieval.lance, retrieval.weaviate; "
        "assert 'weaviate' not in sys.modules, 'imported at module load'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)
