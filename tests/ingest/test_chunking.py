from __future__ import annotations

import itertools
import os
import re
from functools import cache
from typing import Any

import pytest

from ingest.chunking import Chunker, split_blocks
from retrieval.embedder import bundled_model_path


@cache
def tokenizer() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(bundled_model_path()))


def count(text: str) -> int:
    return len(tokenizer()(text, add_special_tokens=False)["input_ids"])


def sentences(n: int, topic: str = "retrieval") -> str:
    return " ".join(f"Sentence {i} is about {topic} and nothing else." for i in range(n))


def test_short_paragraphs_stay_whole_and_share_a_chunk() -> None:
    chunker = Chunker(tokenizer(), max_tokens=64, overlap_tokens=8)
    text = "First paragraph here.\n\nSecond paragraph here."
    assert chunker.split(text) == [text]


def test_every_chunk_fits_the_budget_and_nothing_is_lost() -> None:
    chunker = Chunker(tokenizer(), max_tokens=48, overlap_tokens=12)
    text = "\n\n".join(sentences(7, topic) for topic in ("bm25", "vectors", "fusion"))
    chunks = chunker.split(text)
    assert len(chunks) > 3
    assert all(count(chunk) <= 48 for chunk in chunks)
    for sentence in re.findall(r"Sentence \d+ is about \w+ and nothing else\.", text):
        assert any(sentence in chunk for chunk in chunks), sentence


def test_long_paragraphs_split_on_sentence_boundaries() -> None:
    chunker = Chunker(tokenizer(), max_tokens=40, overlap_tokens=0)
    chunks = chunker.split(sentences(12))
    for chunk in chunks:
        assert chunk.startswith("Sentence ")
        assert chunk.endswith("else.")


def test_overlap_repeats_the_previous_chunks_tail() -> None:
    chunker = Chunker(tokenizer(), max_tokens=40, overlap_tokens=15)
    chunks = chunker.split(sentences(12))
    for previous, current in itertools.pairwise(chunks):
        first_sentence = current.split(". ")[0] + "."
        assert first_sentence in previous
        overlap = previous[previous.index(first_sentence) :]
        assert count(overlap) <= 15


def test_a_sentence_longer_than_a_chunk_is_cut_on_tokens() -> None:
    chunker = Chunker(tokenizer(), max_tokens=20, overlap_tokens=0)
    words = " ".join(f"word{i}" for i in range(80))
    chunks = chunker.split(words)
    assert len(chunks) > 2
    assert all(count(chunk) <= 20 for chunk in chunks)
    assert " ".join(chunks).replace(" ", "") == words.replace(" ", "")


def test_code_blocks_are_kept_verbatim() -> None:
    code = "```python\ndef f(x):\n\n    return x + 1\n```"
    text = f"Intro paragraph.\n\n{code}\n\nOutro."
    blocks = split_blocks(text)
    assert [b.is_code for b in blocks] == [False, True, False]
    assert blocks[1].text == code
    chunks = Chunker(tokenizer(), max_tokens=200, overlap_tokens=10).split(text)
    assert code in chunks[0]


def test_long_code_splits_on_lines_not_inside_them() -> None:
    lines = [f"    value_{i} = compute({i})  # step {i}" for i in range(40)]
    code = "```\n" + "\n".join(lines) + "\n```"
    chunks = Chunker(tokenizer(), max_tokens=60, overlap_tokens=0).split(code)
    assert len(chunks) > 1
    for chunk in chunks:
        for line in chunk.split("\n"):
            assert line in ("```", *lines)


def test_empty_text_gives_no_chunks() -> None:
    assert Chunker(tokenizer(), 32, 4).split(" \n\n \n") == []


def test_overlap_must_be_below_size() -> None:
    with pytest.raises(ValueError, match="overlap_tokens"):
        Chunker(tokenizer(), 32, 32)
