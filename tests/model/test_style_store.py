"""The owner's style profile from a real SQLite warehouse through `Twin.style_profile`:
only their own writing counts, it is cached under TWIN_HOME, and adding, editing or
forgetting writing measures it again."""

from __future__ import annotations

import json
from pathlib import Path

from bot.config import load_config
from bot.twin import Twin
from ingest.document import Document
from model.style_store import CACHE_FILE
from tests.model.test_style import LINKEDIN, TIL


def store(twin: Twin, *documents: Document) -> None:
    with twin.warehouse.transaction() as tx:
        for document in documents:
            tx.upsert_document(document)


def post(n: int, text: str, *, author: str = "Sam Rivera", **fields: object) -> Document:
    values: dict[str, object] = {"platform": "linkedin", "owned": None} | fields
    return Document(
        url=f"https://www.linkedin.com/posts/sam-{n}",
        title=f"Post {n}",
        text=text,
        author=author,
        **values,  # type: ignore[arg-type]
    )


def twin_for(**settings: str) -> Twin:
    return Twin(load_config({"owner.name": "Sam Rivera"} | settings))


def test_only_the_owners_own_writing_is_profiled(twin_home: Path) -> None:
    twin = twin_for()
    try:
        store(twin, *(post(n, text) for n, text in enumerate(LINKEDIN[:5])))
        store(
            twin,
            post(10, "Hashtag storm #one #two #three #four", author="Dana Lee"),
            post(11, "A repost #five #six #seven", owned=False),
            post(12, "def f():\n    return '#code'", meta={"kind": "code"}),
        )
        profile = twin.style_profile()
    finally:
        twin.close()
    assert profile.documents == 5 and set(profile.platforms) == {"linkedin"}
    assert {h.text for h in profile.overall.top_hashtags} <= {
        "#ai",
        "#evals",
        "#oncall",
        "#sqlite",
        "#gpu",
    }
    assert "signs off with 'Thoughts?' (5 of 5)" in profile.render_guidance("linkedin")


def test_the_profile_is_cached_and_measured_again_when_writing_is_added(
    twin_home: Path,
) -> None:
    twin = twin_for()
    cache = twin_home / "style" / CACHE_FILE
    try:
        store(twin, *(post(n, text) for n, text in enumerate(LINKEDIN[:4])))
        before = twin.style_profile()
        assert not before.enough() and cache.is_file()
        key = json.loads(cache.read_text())["key"]

        # The cache is what a second call returns: a changed cached number shows through.
        data = json.loads(cache.read_text())
        data["profile"]["overall"]["emoji_per_post"] = 42.0
        cache.write_text(json.dumps(data))
        assert twin.style_profile().overall.emoji_per_post == 42.0

        store(twin, post(4, LINKEDIN[4]))  # a fifth post: enough to describe
        after = twin.style_profile()
        assert after.documents == 5 and after.enough()
        assert after.overall.emoji_per_post == 1.0  # measured again, not the cached 42
        assert json.loads(cache.read_text())["key"] != key
        assert "opens with a one-line question (5 of 5)" in after.render_guidance("linkedin")

        edited = LINKEDIN[4].replace("Thoughts?", "Edited: one more line.\n\nThoughts?")
        store(twin, post(4, edited))
        assert twin.style_profile().overall.words == after.overall.words + 4
        twin.warehouse.forget("https://www.linkedin.com/posts/sam-4")
        assert twin.style_profile().documents == 4
    finally:
        twin.close()


def test_without_owner_names_nothing_is_profiled(twin_home: Path) -> None:
    twin = Twin(load_config({}))
    try:
        store(twin, *(post(n, text) for n, text in enumerate(LINKEDIN)))
        assert twin.style_profile().documents == 0
    finally:
        twin.close()


def test_a_damaged_cache_is_measured_again(twin_home: Path) -> None:
    twin = twin_for(**{"owner.names": '["*"]'})
    try:
        store(twin, *(post(n, text, author="S. Willison") for n, text in enumerate(TIL[:6])))
        cache = twin_home / "style" / CACHE_FILE
        first = twin.style_profile()
        cache.write_text("{not json")
        assert twin.style_profile().render_guidance() == first.render_guidance()
        assert json.loads(cache.read_text())["profile"]["documents"] == 6
    finally:
        twin.close()
