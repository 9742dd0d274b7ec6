"""The owner's whole loop through the real CLI: ingest → sources → search → change →
re-ingest → forget → reindex, on real files, a real local HTTP server, the real embedder,
SQLite and LanceDB."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli.main import cli
from tests.http_server import ThreadedServer

SAMPLE = Path(__file__).resolve().parents[2] / "sample"
LOOPBACK = ["--set", "ingest.allowed_networks=127.0.0.1/32"]


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, [*LOOPBACK, *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def search(query: str, *flags: str) -> list[dict[str, object]]:
    hits: list[dict[str, object]] = json.loads(run("search", query, "--json", *flags))
    return hits


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    copy = tmp_path / "writing"
    shutil.copytree(SAMPLE, copy)
    return copy


def test_ingest_search_change_forget(sample: Path) -> None:
    output = run("ingest", str(sample))
    assert (
        "6 new" in output and "1 of 1 input ingested: 6 new documents, 6 chunks indexed" in output
    )

    hits = search("should I fine-tune or use retrieval?")
    assert hits[0]["title"] == "Retrieval before fine-tuning"
    assert set(hits[0]) == {"url", "title", "platform", "score", "text"}
    scores = [float(str(h["score"])) for h in hits]
    assert scores == sorted(scores, reverse=True)

    sources = json.loads(run("sources", "--json"))
    assert len(sources) == 1 and sources[0]["documents"] == 6 and sources[0]["status"] == "ok"

    # Again: nothing new, nothing re-embedded.
    assert "nothing new (6 documents unchanged)" in run("ingest", str(sample))

    # One post changes: only it is replaced, and its old text is gone from the index.
    post = sample / "04-sqlite-is-enough.md"
    post.write_text(post.read_text().replace("SQLite", "DuckDB"))
    output = run("ingest", str(sample))
    assert "1 changed" in output and "5 unchanged" in output
    texts = [h["text"] for h in search("WAL mode nightly backup", "--k", "10")]
    assert any("DuckDB" in str(t) for t in texts)
    assert not any("SQLite" in str(t) and "nightly backup" in str(t) for t in texts)

    # Forget one document, then the whole source.
    run("forget", (sample / "03-on-call.md").resolve().as_uri())
    assert all("on-call" not in str(h["url"]) for h in search("runbook at 3 a.m.", "--k", "10"))
    assert json.loads(run("sources", "--json"))[0]["documents"] == 5
    assert "5 documents" in run("forget", sample.resolve().as_uri())
    assert search("retrieval") == []
    assert json.loads(run("sources", "--json")) == []
    # The searches opened the index, which dropped the forgotten chunks.
    assert "0 documents, 0 chunks: in step with the warehouse" in run("check")


def test_filters_and_alpha_from_the_cli(sample: Path) -> None:
    run("ingest", str(sample))
    hits = search("model", "--platform", "substack", "--k", "10")
    assert hits and {h["platform"] for h in hits} == {"substack"}
    hits = search("model", "--since", "2026-06-01", "--k", "10")
    assert {h["title"] for h in hits} <= {
        "Your eval set is your product spec",
        "A GPU budget for a one-person team",
    }
    bm25 = search("exllamav2", "--alpha", "0")
    assert bm25 and "exllamav2" in str(bm25[0]["text"])


def test_changed_settings_require_reindex(sample: Path) -> None:
    run("ingest", str(sample))
    before = len(search("evaluation", "--k", "50"))
    output = run("--set", "chunking.max_tokens=64", "search", "evaluation", code=2)
    assert "llm-twin reindex" in output and "chunk_tokens" in output
    assert "reindexed 6 documents" in run("--set", "chunking.max_tokens=64", "reindex")
    after = run("--set", "chunking.max_tokens=64", "search", "evaluation", "--k", "50", "--json")
    assert len(json.loads(after)) > before  # smaller chunks, more of them


def test_ingest_a_feed_and_an_article_over_http(threaded_server: ThreadedServer) -> None:
    article = threaded_server.fixture_page("en.wikipedia.org.tsne.html")
    entry = threaded_server.fixture_page("lemire.me.json.html", "/posts/json")
    feed = threaded_server.page(
        "/feed.xml",
        f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Blog</title>
        <link>{threaded_server.url("/")}</link><description>d</description>
        <item><title>JSON parsing</title><link>{entry}</link>
        <description>simdjson vs JSON for Modern C++, in short.</description></item>
        </channel></rss>""",
        content_type="application/rss+xml",
    )
    output = run("ingest", article, feed)
    assert "2 of 2 inputs ingested" in output
    hits = search("simdjson parsing speed")
    # The feed only carried a summary: the full article was fetched and indexed.
    assert hits[0]["url"] == entry and "nlohmann" in str(hits[0]["text"]) + "".join(
        str(h["text"]) for h in hits
    )
    assert search("t-SNE Hinton")[0]["url"] == article
