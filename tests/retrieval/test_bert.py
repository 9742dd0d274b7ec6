"""The NumPy encoder gives the vectors sentence-transformers gives, and the embedder uses it
for queries only: a search never needs torch, and the index opens without loading a model."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ingest.chunking import Chunker
from retrieval.bert import CountingTokenizer, NumpyBert, bert_shape
from retrieval.embedder import QUERY_TEXTS, SentenceTransformerEmbedder, bundled_model_path

TEXTS = [
    "",
    "hello world",
    "  Retrieval before fine-tuning: what I tell teams  ",
    "What did I write about hiring engineers and remote work last year?",
    "Ünïcödé, emoji 🚀 and CJK 中文 mixed with code `x = f(y)`",
    # past max_seq_length (256 tokens): both cut at the same place
    "SQLite is enough for most side projects. " * 80,
]


@pytest.mark.slow
def test_numpy_vectors_match_sentence_transformers_within_1e5() -> None:
    shape = bert_shape(bundled_model_path())
    assert shape is not None and shape.dimension == 384 and shape.max_seq_length == 256
    mine = NumpyBert(shape)
    reference = SentenceTransformerEmbedder(batch_size=4).load()
    expected = reference.encode(TEXTS, batch_size=4, normalize_embeddings=True)
    for batch in (TEXTS, TEXTS[1:2], TEXTS[3:]):  # padding differs with the batch
        got = mine.embed(batch)
        want = expected[[TEXTS.index(t) for t in batch]]
        assert got.dtype == np.float32 and got.shape == want.shape
        assert np.abs(got - want).max() < 1e-5
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


@pytest.mark.slow
def test_counting_and_chunking_match_the_models_own_tokenizer() -> None:
    shape = bert_shape(bundled_model_path())
    assert shape is not None
    mine = CountingTokenizer(shape)
    theirs = SentenceTransformerEmbedder().load().tokenizer
    texts = [*TEXTS, "Café naïve résumé — “quotes” and ﬁ ligatures", "x" * 150, "a\u0000b\tc"]
    for special in (False, True):
        got = mine(texts, add_special_tokens=special, return_offsets_mapping=True)
        want = theirs(texts, add_special_tokens=special, return_offsets_mapping=True)
        assert got["input_ids"] == want["input_ids"]
        assert [[tuple(o) for o in row] for row in got["offset_mapping"]] == [
            [tuple(o) for o in row] for row in want["offset_mapping"]
        ]
    document = "\n\n".join(TEXTS[2:] * 6)
    assert Chunker(mine, 64, 8).split(document) == Chunker(theirs, 64, 8).split(document)


def test_the_embedder_sends_only_a_few_short_texts_to_numpy() -> None:
    embedder = SentenceTransformerEmbedder()
    assert embedder.for_queries(["one query"])
    assert embedder.for_queries(["q"] * QUERY_TEXTS)
    assert not embedder.for_queries(["q"] * (QUERY_TEXTS + 1))
    assert not embedder.for_queries(["a long chunk " * 400])
    assert not SentenceTransformerEmbedder(device="cuda").for_queries(["one query"])


def test_a_query_and_the_dimension_need_no_torch() -> None:
    code = (
        "import sys; from retrieval.embedder import SentenceTransformerEmbedder as E\n"
        "e = E(); v = e.embed(['what I wrote about SQLite'])\n"
        "print(e.dimension, v.shape, sorted(m for m in ('torch', 'sentence_transformers',"
        " 'transformers') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert out.strip() == "384 (1, 384) []"


@pytest.mark.parametrize(
    "change",
    [
        lambda d: (d / "1_Pooling" / "config.json").write_text(
            json.dumps({"word_embedding_dimension": 384, "pooling_mode_cls_token": True})
        ),
        lambda d: (d / "config.json").write_text(
            (d / "config.json").read_text().replace('"bert"', '"roberta"')
        ),
        lambda d: (d / "model.safetensors").unlink(),
        lambda d: (d / "modules.json").write_text("not json"),
    ],
    ids=["cls-pooling", "not-bert", "no-safetensors", "broken-modules"],
)
def test_other_folders_are_left_to_sentence_transformers(tmp_path: Path, change: object) -> None:
    folder = tmp_path / "model"
    bundled = bundled_model_path()
    # The configs copied, the weights linked (90 MB): a change never touches the original.
    shutil.copytree(bundled, folder, ignore=shutil.ignore_patterns("model.safetensors"))
    (folder / "model.safetensors").symlink_to(bundled / "model.safetensors")
    assert bert_shape(folder) is not None
    change(folder)  # type: ignore[operator]
    assert bert_shape(folder) is None
