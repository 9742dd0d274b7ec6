"""The Weaviate backend's connection and collection life cycle: connect, open or create
the collection (checking the one found), reset, clear and drop it.

A collection is never dropped unless llm-twin created it (its description holds our
manifest), and another owner's tenant is never touched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import ConfigError, IndexMismatchError, StorageError
from retrieval.index import IndexManifest
from retrieval.weaviate_codec import Endpoint, one_line
from retrieval.weaviate_schema import (
    create_arguments,
    decode_manifest,
    expected_shape,
    shape_differences,
    shape_of,
)

if TYPE_CHECKING:
    from weaviate import WeaviateClient
    from weaviate.collections import Collection
    from weaviate.collections.classes.config import CollectionConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an index lives on the server and how its collection is created."""

    url: str
    name: str
    manifest: IndexManifest
    tenant: str | None = None
    shards: int | None = None
    replication_factor: int | None = None
    consistency: str | None = None  # ONE, QUORUM or ALL; None: the server's default

    @property
    def where(self) -> str:
        tenant = f", tenant {self.tenant}" if self.tenant else ""
        return f"{self.url} (collection {self.name}{tenant})"


def client_errors() -> tuple[type[Exception], ...]:
    """What weaviate-client raises for server and network failures."""
    try:
        import httpx
        from weaviate.exceptions import WeaviateBaseError
    except ImportError as exc:
        raise ConfigError(
            "the weaviate index backend needs weaviate-client: "
            "pip install 'llm-twin[weaviate]' (or set index.backend to lance)"
        ) from exc
    return (WeaviateBaseError, httpx.HTTPError)


def connect(
    url: str, address: Endpoint | None, api_key: str | None, timeout_s: float
) -> WeaviateClient:
    """A connected sync client: self-hosted at `address`, or Weaviate Cloud at `url` when
    `address` is None. A server that cannot be reached raises StorageError naming `url`."""
    errors = client_errors()
    import weaviate
    from weaviate.classes.init import AdditionalConfig, Auth, Timeout

    config = AdditionalConfig(
        timeout=Timeout(init=min(timeout_s, 10.0), query=timeout_s, insert=timeout_s)
    )
    auth = Auth.api_key(api_key) if api_key else None
    try:
        if address is None:
            if auth is None:
                raise ConfigError(
                    "Weaviate Cloud needs an API key: set TWIN_INDEX__WEAVIATE_API_KEY"
                )
            return weaviate.connect_to_weaviate_cloud(
                url, auth_credentials=auth, additional_config=config
            )
        return weaviate.connect_to_custom(
            http_host=address.http_host,
            http_port=address.http_port,
            http_secure=address.http_secure,
            grpc_host=address.grpc_host,
            grpc_port=address.grpc_port,
            grpc_secure=address.grpc_secure,
            auth_credentials=auth,
            additional_config=config,
        )
    except errors as exc:
        raise StorageError(
            f"cannot reach the Weaviate server at {url} ({one_line(exc)}). Start it or fix "
            "index.weaviate_url (and index.weaviate_grpc_url); the next call tries again."
        ) from exc


def open_collection(client: WeaviateClient, place: Placement, *, reset: bool) -> Collection:
    """The collection handle for `place`, created if missing. An existing collection must
    be ours, built with the same manifest and schema; `reset` discards it instead."""
    collections = client.collections
    if collections.exists(place.name):
        config = collections.get(place.name).config.get()
        stored = decode_manifest(config.description, place.where)
        if stored is None:
            raise StorageError(
                f"the collection {place.name} at {place.url} was not created by llm-twin "
                "(its description holds no index manifest), so it is left alone. Choose "
                "another name (config key index.weaviate_collection) or delete it yourself."
            )
        problems = shape_differences(
            expected_shape(multi_tenancy=place.tenant is not None), shape_of(config)
        )
        if reset:
            _discard(client, place, config, stored, problems)
        else:
            place.manifest.check_against(stored, where=place.where)
            if problems:
                raise IndexMismatchError(
                    f"the index at {place.where} has another schema ({'; '.join(problems)}). "
                    "Run `llm-twin reindex` to rebuild it from the warehouse."
                )
            _warn_if_scaled_otherwise(place, config)
    if not collections.exists(place.name):
        create_collection(client, place)
    base = collections.get(place.name)
    if place.consistency is not None:
        from weaviate.classes.config import ConsistencyLevel

        base = base.with_consistency_level(ConsistencyLevel(place.consistency))
    if place.tenant is None:
        return base
    if not base.tenants.exists(place.tenant):
        from weaviate.classes.tenants import Tenant

        base.tenants.create(Tenant(name=place.tenant))
    return base.with_tenant(place.tenant)


def create_collection(client: WeaviateClient, place: Placement) -> None:
    client.collections.create(
        **create_arguments(
            place.name,
            place.manifest,
            multi_tenancy=place.tenant is not None,
            shards=place.shards,
            replication_factor=place.replication_factor,
        )
    )


def clear_collection(client: WeaviateClient, place: Placement) -> None:
    """Empty this index: recreate the collection, or this owner's tenant."""
    if place.tenant is None:
        client.collections.delete(place.name)
        create_collection(client, place)
        return
    from weaviate.classes.tenants import Tenant

    tenants = client.collections.get(place.name).tenants
    tenants.remove([place.tenant])
    tenants.create(Tenant(name=place.tenant))


def drop_collection(client: WeaviateClient, place: Placement) -> None:
    """Delete this index: its tenant, and the collection once no tenant is left."""
    collections = client.collections
    if place.tenant is not None and collections.exists(place.name):
        tenants = collections.get(place.name).tenants
        tenants.remove([place.tenant])
        if tenants.get():
            return
    collections.delete(place.name)


def _discard(
    client: WeaviateClient,
    place: Placement,
    config: CollectionConfig,
    stored: IndexManifest,
    problems: list[str],
) -> None:
    """For `reset`: remove this index's chunks; other owners' tenants are never touched."""
    collection = client.collections.get(place.name)
    others: set[str] = set()
    if config.multi_tenancy_config.enabled:
        others = set(collection.tenants.get()) - {place.tenant or ""}
    if not others:
        client.collections.delete(place.name)
    elif stored == place.manifest and not problems and place.tenant is not None:
        if collection.tenants.exists(place.tenant):
            collection.tenants.remove([place.tenant])
    else:
        named = ", ".join(sorted(others)[:5])
        raise StorageError(
            f"cannot rebuild {place.where} with these settings: the collection also holds "
            f"other tenants ({named}) built with its current settings. Choose another "
            "collection name (config key index.weaviate_collection)."
        )


def _warn_if_scaled_otherwise(place: Placement, config: CollectionConfig) -> None:
    """Shards and replicas are set at creation; a differing config is reported, not fatal."""
    factor = config.replication_config.factor
    if place.replication_factor is not None and factor != place.replication_factor:
        log.warning(
            "%s has replication factor %d, not the configured %d: it is set when the "
            "collection is created (reindex recreates it)",
            place.where,
            factor,
            place.replication_factor,
        )
    sharding = config.sharding_config
    shards = None if sharding is None or place.tenant else sharding.desired_count
    if place.shards is not None and shards is not None and shards != place.shards:
        log.warning(
            "%s has %d shards, not the configured %d: they are set when the collection is "
            "created (reindex recreates it)",
            place.where,
            shards,
            place.shards,
        )
