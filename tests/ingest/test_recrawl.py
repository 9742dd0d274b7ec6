"""Incremental recrawl through the real pipeline: a local server changes a feed or a page
between crawls, and only the change is fetched and embedded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from bot.config import load_config
from bot.twin import Twin
from core.errors import InputError
from ingest.document import document_id
from ingest.fetcher import Fetcher
from ingest.settings import FetchPolicy
from tests.http_server import LocalServer
from tests.ingest.parts import CountingEmbedder, FailingIndex, ingestor


@pytest.fixture
def twin(tmp_path: Path) -> Iterator[Twin]:
    twin = Twin(load_config(home=tmp_path / "home", env={}))
    yield twin
    twin.close()


def body(word: str, n: int = 90) -> str:
    """A full-text entry (long enough that the feed's text is taken as the whole post)."""
    return " ".join(f"{word}{i % 7}" for i in range(n)) + "."


class ChangingFeed:
    """An RSS feed whose entries the test edits; answers 304 to a matching If-None-Match."""

    def __init__(self, server: LocalServer, *, full_text: bool) -> None:
        self.server = server
        self.full_text = full_text
        self.entries: dict[str, str] = {}  # slug -> text
        self.version = 0
        self.url = server.route("/feed.xml", self.handle)

    def set(self, slug: str, text: str) -> None:
        self.entries[slug] = text
        self.version += 1
        self.server.page(
            f"/post/{slug}",
            f"<html><body><article><h1>{slug}</h1><p>{text}</p></article></body></html>",
        )

    async def handle(self, request: web.Request) -> web.Response:
        etag = f'"v{self.version}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        items = []
        for n, (slug, text) in enumerate(self.entries.items()):
            content = f"<content:encoded><![CDATA[<p>{text}</p>]]></content:encoded>"
            items.append(
                f"<item><title>{slug}</title><link>{self.server.url('/post/' + slug)}</link>"
                f"<guid>{slug}</guid><pubDate>Mon, 0{n + 1} Jan 2024 10:00:00 GMT</pubDate>"
                f"<description>{slug} in short</description>"
                f"{content if self.full_text else ''}</item>"
            )
        xml = (
            '<?xml version="1.0"?><rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
            f"<title>Blog</title><link>{self.server.url('/')}</link>{''.join(items)}"
            "</channel></rss>"
        )
        return web.Response(text=xml, content_type="application/rss+xml", headers={"ETag": etag})


async def test_a_feed_recrawl_fetches_and_embeds_only_what_changed(
    twin: Twin, server: LocalServer
) -> None:
    feed = ChangingFeed(server, full_text=True)
    for slug, word in (("alpha", "apple"), ("beta", "banana"), ("gamma", "cherry")):
        feed.set(slug, body(word))
    embedder = CountingEmbedder(twin.embedder)
    async with Fetcher(FetchPolicy(allow_private_networks=True)) as fetcher:
        pipeline = ingestor(twin, fetcher, embedder=embedder)
        [first] = await pipeline.ingest([feed.url])
        assert (first.new, first.changed, first.removed) == (3, 0, 0)
        assert twin.warehouse.get_source(feed.url).state["etag"] == '"v3"'  # type: ignore[union-attr]

        embedder.embedded.clear()
        [same] = await pipeline.recrawl()
        assert same.ok and same.not_modified and same.unchanged == 3
        assert "not modified since the last crawl" in same.line()
        assert embedder.embedded == []

        feed.set("beta", body("blueberry"))  # an edit
        feed.set("delta", body("durian"))  # a new post
        [changed] = await pipeline.recrawl([feed.url])
    assert (changed.new, changed.changed, changed.unchanged, changed.removed) == (1, 1, 2, 0)
    embedded = " ".join(embedder.embedded)
    assert "blueberry1" in embedded and "durian1" in embedded
    assert "apple1" not in embedded and "cherry1" not in embedded  # unchanged: not embedded
    assert twin.warehouse.count_documents() == 4
    hits = await twin.search("blueberry3 blueberry4", k=1, alpha=0.0)
    assert hits and hits[0].chunk.title == "beta"
    assert not await twin.search("banana3 banana4", k=3, alpha=0.0)  # the old text is gone


async def test_stored_feed_entries_are_not_fetched_again(twin: Twin, server: LocalServer) -> None:
    feed = ChangingFeed(server, full_text=False)  # summaries only: each post is its page
    feed.set("alpha", body("apple"))
    feed.set("beta", body("banana"))
    async with Fetcher(FetchPolicy(allow_private_networks=True)) as fetcher:
        pipeline = ingestor(twin, fetcher)
        [first] = await pipeline.ingest([feed.url])
        assert first.new == 2 and server.hits["/post/alpha"] == 1
        feed.set("gamma", body("cherry"))
        [again] = await pipeline.recrawl()
    assert (again.new, again.unchanged) == (1, 2)
    assert server.hits["/post/gamma"] == 1
    assert server.hits["/post/alpha"] == server.hits["/post/beta"] == 1  # not fetched again
    state = twin.warehouse.get_source(feed.url).state  # type: ignore[union-attr]
    assert state["newest"].startswith("2024-01-03")


async def test_a_page_recrawl_asks_changed_since(twin: Twin, server: LocalServer) -> None:
    text = {"now": body("walnut")}

    async def page(request: web.Request) -> web.Response:
        stamp = (
            "Mon, 01 Jan 2024 10:00:00 GMT"
            if "walnut" in text["now"]
            else ("Tue, 02 Jan 2024 10:00:00 GMT")
        )
        if request.headers.get("If-Modified-Since") == stamp:
            return web.Response(status=304)
        html = (
            f"<html><head><title>Nuts</title></head><body><article><h1>Nuts</h1>"
            f"<p>{text['now']}</p></article></body></html>"
        )
        return web.Response(text=html, content_type="text/html", headers={"Last-Modified": stamp})

    url = server.route("/nuts", page)
    embedder = CountingEmbedder(twin.embedder)
    async with Fetcher(FetchPolicy(allow_private_networks=True)) as fetcher:
        pipeline = ingestor(twin, fetcher, embedder=embedder)
        [first] = await pipeline.ingest([url])
        assert first.new == 1
        calls = embedder.calls
        [same] = await pipeline.recrawl([url])
        assert same.not_modified and embedder.calls == calls
        text["now"] = body("pecan")
        [edited] = await pipeline.recrawl([url])
    assert (edited.changed, edited.new) == (1, 0)
    stored = twin.warehouse.find_document_by_url(url)
    assert stored is not None and "pecan1" in stored.text


async def test_a_file_deleted_from_a_folder_is_removed(twin: Twin, tmp_path: Path) -> None:
    folder = tmp_path / "posts"
    folder.mkdir()
    for name, word in (("one", "oak"), ("two", "elm"), ("three", "ash")):
        (folder / f"{name}.md").write_text(f"# {name}\n\n{body(word, 30)}\n")
    async with Fetcher() as fetcher:
        pipeline = ingestor(twin, fetcher)
        await pipeline.ingest([str(folder)], allow_paths=True)
        (folder / "two.md").unlink()
        (folder / "three.md").write_text(f"# three\n\n{body('yew', 30)}\n")
        [result] = await pipeline.recrawl([str(folder)])
    assert (result.new, result.changed, result.unchanged, result.removed) == (0, 1, 1, 1)
    assert twin.warehouse.count_documents() == 2 and twin.index.count() == 2
    gone = (folder / "two.md").resolve().as_uri()
    assert twin.warehouse.find_document_by_url(gone) is None
    assert not await twin.search("elm1 elm2", k=3, alpha=0.0)


async def test_a_file_that_cannot_be_read_is_not_removed(twin: Twin, tmp_path: Path) -> None:
    folder = tmp_path / "posts"
    folder.mkdir()
    (folder / "one.md").write_text(f"# one\n\n{body('oak', 30)}\n")
    (folder / "two.md").write_text(f"# two\n\n{body('elm', 30)}\n")
    async with Fetcher() as fetcher:
        pipeline = ingestor(twin, fetcher)
        await pipeline.ingest([str(folder)], allow_paths=True)
        (folder / "two.md").write_bytes(b"\xff\xfe not utf-8 \xff")
        [result] = await pipeline.recrawl()
    assert result.ok and result.removed == 0 and twin.warehouse.count_documents() == 2
    assert any("not UTF-8" in note for note in result.notes)


async def test_a_failed_removal_leaves_warehouse_and_index_as_they_were(
    twin: Twin, tmp_path: Path
) -> None:
    folder = tmp_path / "posts"
    folder.mkdir()
    for name in ("one", "two"):
        (folder / f"{name}.md").write_text(f"# {name}\n\n{body(name, 30)}\n")
    async with Fetcher() as fetcher:
        await ingestor(twin, fetcher).ingest([str(folder)], allow_paths=True)
        (folder / "two.md").unlink()
        broken = ingestor(twin, fetcher, index=FailingIndex(twin.index))
        [result] = await broken.recrawl()
        assert result.error is not None and "index disk full" in result.error
        assert twin.warehouse.count_documents() == 2 and twin.index.count() == 2
        [retry] = await ingestor(twin, fetcher).recrawl()
    assert retry.removed == 1 and twin.warehouse.count_documents() == 1


async def test_recrawl_names_sources_as_listed_and_refuses_unknown_ones(
    twin: Twin, tmp_path: Path
) -> None:
    folder = tmp_path / "posts"
    folder.mkdir()
    (folder / "one.md").write_text(f"# one\n\n{body('oak', 30)}\n")
    async with Fetcher() as fetcher:
        pipeline = ingestor(twin, fetcher)
        await pipeline.ingest([str(folder)], allow_paths=True)
        [source] = twin.warehouse.list_sources()
        [by_url] = await pipeline.recrawl([source.url])
        assert by_url.ok and by_url.unchanged == 1
        with pytest.raises(InputError, match="not a known source; `llm-twin sources` lists"):
            await pipeline.recrawl(["https://example.com/never-added"])
    assert document_id((folder / "one.md").resolve().as_uri()) in {
        d.id for d in twin.warehouse.iter_documents()
    }
