"""HTTP validators: what a page or feed said about its version (ETag, Last-Modified), kept
with the source so the next crawl can ask "changed since?" and get a cheap 304."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest.fetcher import FetchedPage

__all__ = ["conditional_headers", "not_modified", "validators"]


def validators(page: FetchedPage) -> dict[str, str]:
    """The validators a response carries, as crawl state."""
    state = {}
    if etag := page.headers.get("ETag", "").strip():
        state["etag"] = etag
    if modified := page.headers.get("Last-Modified", "").strip():
        state["last_modified"] = modified
    return state


def conditional_headers(state: Mapping[str, Any]) -> dict[str, str]:
    """Request headers that make the server answer 304 when nothing changed."""
    headers = {}
    if etag := state.get("etag"):
        headers["If-None-Match"] = str(etag)
    if modified := state.get("last_modified"):
        headers["If-Modified-Since"] = str(modified)
    return headers


def not_modified(page: FetchedPage) -> bool:
    return page.status == 304
