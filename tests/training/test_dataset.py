"""The instruction dataset: owner filter, extracts, dedupe, split by document, files."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from core.errors import InputError
from ingest.document import Document
from training.dataset import (
    DatasetStats,
    Example,
    build_examples,
    is_owners,
    save_dataset,
    split_answer,
    template_instruction,
)
from training.dataset_build import usable_instruction
from training.settings import TrainingSettings


def words(text: str) -> int:
    return len(text.split())


def post(
    n: int, *, author: str = "Sam Rivera", platform: str = "linkedin", body: str = ""
) -> Document:
    text = body or " ".join(f"word{n}x{i}" for i in range(60))
    return Document(
        url=f"https://example.com/{n}",
        platform=platform,
        title=f"Post {n}",
        text=text,
        author=author,
    )


SETTINGS = TrainingSettings(min_documents=3, test_fraction=0.3)
OWNERS = ("Sam Rivera", "@samr")
EVERYONE = ("*",)


def test_owner_names_match_names_and_handles_loosely() -> None:
    assert is_owners("sam  rivera", ["Sam Rivera"])
    assert is_owners("@SamR", ["samr"])
    assert not is_owners("Guest Writer", ["Sam Rivera"])
    assert not is_owners("", ["Sam Rivera"])
    assert is_owners("", ["*"]) and is_owners("anyone", ["*"])


def test_template_instructions_follow_the_platform() -> None:
    assert template_instruction(post(1)) == "Write a LinkedIn post about post 1."
    medium = template_instruction(post(2, platform="medium"))
    assert medium == 'Write a blog post titled "Post 2".'
    assert template_instruction(post(3, platform="web"), 2, 3) == (
        'Write an article titled "Post 3". Write part 2 of 3.'
    )


def test_long_texts_become_extracts_of_whole_paragraphs() -> None:
    paragraphs = [" ".join(f"p{p}w{i}" for i in range(40)) for p in range(5)]
    extracts = split_answer("\n\n".join(paragraphs), 100, words)
    assert [words(e) for e in extracts] == [80, 80, 40]
    assert "\n\n".join(extracts).split() == "\n\n".join(paragraphs).split()  # nothing lost
    assert split_answer("short text", 100, words) == ["short text"]


async def test_examples_are_the_owners_real_text_split_by_document() -> None:
    long_body = "\n\n".join(" ".join(f"L{p}w{i}" for i in range(300)) for p in range(3))
    documents = [
        *(post(n) for n in range(10)),
        post(10, author="Guest Writer"),
        post(11, author=""),
        post(12, body="too short to learn from"),
        post(13, body=post(0).text),  # the same text under another URL
        post(14, author="@samr", platform="medium", body=long_body),
    ]
    train, test, stats = await build_examples(
        documents, replace(SETTINGS, max_answer_tokens=400), OWNERS, words
    )
    assert stats.documents_seen == 15 and stats.documents_used == 11
    assert dict(stats.excluded) == {
        "other author": 1,
        "no author": 1,
        "too short": 1,
        "duplicate": 1,
    }
    by_url = {d.url: d for d in documents}
    for example in [*train, *test]:
        assert example.answer in by_url[example.url].text  # the owner's own words
    assert not {e.document_id for e in train} & {e.document_id for e in test}
    assert test and stats.test_documents + stats.train_documents == 11
    long_parts = [e for e in [*train, *test] if e.url.endswith("/14")]
    assert [e.part for e in long_parts] == [1, 2, 3]
    assert long_parts[1].instruction.endswith("Write part 2 of 3.")
    assert stats.train_examples == len(train) and stats.test_examples == len(test)
    assert stats.answer_tokens["max"] <= 400


async def test_the_split_is_stable_and_a_small_corpus_still_holds_one_out() -> None:
    documents = [post(n) for n in range(4)]
    settings = TrainingSettings(min_documents=3, test_fraction=0.01)
    a_train, a_test, _ = await build_examples(documents, settings, EVERYONE, words)
    b_train, b_test, _ = await build_examples(documents, settings, EVERYONE, words)
    assert (a_train, a_test) == (b_train, b_test)
    assert len({e.document_id for e in a_test}) == 1


async def test_model_written_instructions_fall_back_to_the_template() -> None:
    replies = iter(["Write a post on staying calm on call.", None, None, None])

    async def writer(document: Document, answer: str) -> str | None:
        return next(replies)

    train, test, stats = await build_examples(
        [post(n) for n in range(4)], TrainingSettings(min_documents=3), EVERYONE, words, writer
    )
    examples = sorted([*train, *test], key=lambda e: e.url)
    assert examples[0].instruction == "Write a post on staying calm on call."
    assert examples[0].instruction_source == "model"
    assert examples[1].instruction == "Write a LinkedIn post about post 1."
    assert dict(stats.instruction_sources) == {"model": 1, "template": 3}


async def test_too_little_or_nobody_elses_data_is_refused_with_what_to_do() -> None:
    with pytest.raises(InputError, match=r"only 2 usable documents of yours.*need at least 3"):
        await build_examples([post(1), post(2)], SETTINGS, OWNERS, words)
    with pytest.raises(InputError, match=r"none of the 2 documents is by owner.names \[Sam"):
        await build_examples([post(1, author="Ann"), post(2, author="Bo")], SETTINGS, OWNERS, words)
    with pytest.raises(InputError, match="no documents yet"):
        await build_examples([], SETTINGS, OWNERS, words)


def test_usable_instructions_are_filtered() -> None:
    assert usable_instruction('Instruction: "Write a post about evals."\nmore') == (
        "Write a post about evals."
    )
    assert usable_instruction("") is None
    assert usable_instruction("I am sorry, I cannot") is None
    assert usable_instruction("ok") is None


async def test_saved_files_load_with_datasets_and_name_their_content(tmp_path: Path) -> None:
    train, test, stats = await build_examples([post(n) for n in range(6)], SETTINGS, OWNERS, words)
    check_saved(tmp_path, train, test, stats)


def check_saved(
    tmp_path: Path, train: list[Example], test: list[Example], stats: DatasetStats
) -> None:
    from datasets import load_dataset

    built = save_dataset(tmp_path, train, test, stats)
    again = save_dataset(tmp_path, train, test, stats)
    assert again.folder == built.folder and built.folder.name == built.digest[:16]
    assert (tmp_path / "LATEST").read_text().strip() == built.folder.name
    loaded = load_dataset(
        "json",
        data_files={s: str(built.folder / f"{s}.jsonl") for s in ("train", "test")},
        cache_dir=str(tmp_path / "hf-cache"),
    )
    assert loaded["train"].num_rows == len(train) and loaded["test"].num_rows == len(test)
    row = loaded["train"][0]
    assert (
        row["messages"] == Example(**{k: row[k] for k in Example.__dataclass_fields__}).messages()
    )
    saved = json.loads((built.folder / "stats.json").read_text())
    assert saved["sha256"] == built.digest and saved["documents_used"] == 6
    assert not list(tmp_path.glob(".*partial"))


async def test_what_a_source_marks_as_someone_elses_is_never_trained_on() -> None:
    from dataclasses import replace

    repost = replace(post(1), owned=False)  # the owner's name, but a reshare of another post
    guest = replace(post(2, author="A Guest"), owned=False)
    vouched = replace(post(3, author=""), owned=True)  # an export's own post with no byline
    unknown = post(4, author="")  # nobody vouches for it and it names no author
    code = replace(post(9), owned=True, meta={"kind": "code", "verbatim": "1"})
    mine = [post(n) for n in range(5, 9)]
    train, test, stats = await build_examples(
        [repost, guest, vouched, unknown, code, *mine],
        TrainingSettings(min_documents=3, test_fraction=0.3),
        EVERYONE,
        words,
    )
    urls = {e.url for e in [*train, *test]}
    assert repost.url not in urls and guest.url not in urls  # even with owner.names ["*"]
    assert vouched.url in urls and {d.url for d in mine} <= urls
    assert stats.excluded["by someone else"] == 2
    assert code.url not in urls and stats.excluded["source code"] == 1
    assert unknown.url in urls  # "*" takes every author, named or not
    _, _, named = await build_examples([vouched, unknown, *mine], SETTINGS, OWNERS, words)
    assert named.documents_used == 5 and named.excluded["no author"] == 1  # `unknown` only
