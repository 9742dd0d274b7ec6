"""What the owner reads after an ingest or a recrawl, and in search results: counts that
agree with their nouns, an unchanged batch said as such, snippets without the title."""

from __future__ import annotations

from core.wording import plural
from ingest.results import InputResult, summary
from retrieval.types import Chunk, SearchHit


def test_plural_agrees_with_the_count() -> None:
    assert [plural(n, "chunk") for n in (0, 1, 2, 1500)] == [
        "0 chunks",
        "1 chunk",
        "2 chunks",
        "1,500 chunks",
    ]
    assert (
        plural(1, "entry", "entries") == "1 entry" and plural(3, "entry", "entries") == "3 entries"
    )


def test_one_input_lines() -> None:
    assert InputResult("a", new=1, chunks=1).line() == "✓ a: 1 new document, 1 chunk indexed"
    assert (
        InputResult("b", new=2, unchanged=1, chunks=5).line()
        == "✓ b: 2 new, 1 unchanged document, 5 chunks indexed"
    )
    assert InputResult("c", unchanged=5).line() == "✓ c: nothing new (5 documents unchanged)"
    assert (
        InputResult("d", not_modified=True).line()
        == "✓ d: nothing new (not modified since the last crawl)"
    )
    assert InputResult("e", error="e: 404").line() == "✗ e: 404"


def test_a_batch_where_nothing_changed_says_so() -> None:
    unchanged = [InputResult(f"u{i}", unchanged=2) for i in range(5)]
    assert summary(unchanged, "link", "ingested") == "5 links checked: nothing new"
    mixed = [InputResult("a", new=3, chunks=4), *unchanged[:1], InputResult("x", error="x: bad")]
    assert (
        summary(mixed, "input", "ingested")
        == "2 of 3 inputs ingested: 3 new, 2 unchanged documents, 4 chunks indexed; 1 failed"
    )
    assert summary([InputResult("x", error="x: bad")], "source", "recrawled") == (
        "1 source: all failed"
    )
    assert summary([InputResult("a", removed=1)], "source", "recrawled") == (
        "1 of 1 source recrawled: 1 removed document, 0 chunks indexed"
    )


def test_a_snippet_does_not_repeat_the_title() -> None:
    def hit(text: str, title: str) -> SearchHit:
        chunk = Chunk("c", "d", 0, text, "https://x", title, "web", "", None)
        return SearchHit(chunk, 1.0)

    first = hit(
        "Retrieval before fine-tuning\n\nPeople ask me whether…", "Retrieval before fine-tuning"
    )
    assert first.snippet(240) == "People ask me whether…"
    later = hit("A later passage that names no title.", "Retrieval before fine-tuning")
    assert later.snippet(240) == "A later passage that names no title."
    only_title = hit("Short note", "Short note")  # nothing but the title: keep it
    assert only_title.snippet(240) == "Short note"
    assert hit("x" * 50, "").snippet(20) == "x" * 19 + "…"
