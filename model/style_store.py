"""The owner's style profile from the warehouse, cached until their writing changes.

Only the owner's own writing counts: the documents voice examples may use
(`model/voice.owner_rows`: one of the owner's names, not marked as someone else's, not
code). The cache (`profile.json` in the folder given, `$TWIN_HOME/style`) is keyed by a
hash of those documents' ids and content hashes, the owner's names and `VERSION`: adding,
editing or forgetting a piece of writing changes the key, and the next call measures
again. A hit reads ids and hashes only; a miss reads the texts too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from ingest.warehouse.schema import documents
from ingest.warehouse.store import Warehouse
from model.style import StyleDocument, StyleProfile
from model.voice import owner_rows

log = logging.getLogger(__name__)

VERSION = 1  # bump when what a profile measures changes: old caches are measured again
CACHE_FILE = "profile.json"


def owner_style(warehouse: Warehouse, names: Sequence[str], folder: Path) -> StyleProfile:
    """The style profile of the owner's writing in `warehouse` (empty without `names`),
    from the cache in `folder` when their writing has not changed since it was made."""
    if not names:
        return StyleProfile.from_texts([])
    c = documents.c
    rows = sorted(owner_rows(warehouse, names, c.id, c.content_hash), key=lambda r: r.id)
    key = _key(names, [(r.id, r.content_hash) for r in rows])
    cached = _read(folder / CACHE_FILE, key)
    if cached is not None:
        return cached
    texts = owner_rows(warehouse, names, c.id, c.platform, c.text)
    profile = StyleProfile.from_documents(
        StyleDocument(row.text, row.platform) for row in sorted(texts, key=lambda r: r.id)
    )
    _write(folder / CACHE_FILE, key, profile)
    return profile


def _key(names: Sequence[str], pieces: Sequence[tuple[str, str]]) -> str:
    digest = hashlib.sha256(json.dumps([VERSION, sorted(names)]).encode())
    for document_id, content_hash in pieces:
        digest.update(f"{document_id}:{content_hash}\n".encode())
    return digest.hexdigest()


def _read(path: Path, key: str) -> StyleProfile | None:
    try:
        data = json.loads(path.read_text("utf-8"))
        if data.get("key") != key:
            return None
        return StyleProfile.from_json(data["profile"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:  # a damaged cache: measure again
        log.warning("style profile cache %s unreadable (%s); measuring again", path, exc)
        return None


def _write(path: Path, key: str, profile: StyleProfile) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        data = {"key": key, "version": VERSION, "profile": profile.to_json()}
        partial.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
        partial.replace(path)
    except OSError as exc:  # a read-only home still gets a profile, just not a cached one
        log.warning("could not cache the style profile in %s: %s", path, exc)
