"""The bundled embedder under concurrent use, as ingest uses it (chunking and embedding
run in different threads at once)."""

from __future__ import annotations

import threading

from retrieval.embedder import SentenceTransformerEmbedder


def test_counting_tokens_in_one_thread_never_breaks_embedding_in_another() -> None:
    embedder = SentenceTransformerEmbedder()
    # Texts of different lengths, so a batch needs padding to become one tensor.
    texts = ["short", "a much longer text about shipping " * 8, "a mid-sized text " * 5] * 4
    errors: list[str] = []
    done = threading.Event()

    def count() -> None:
        while not done.is_set():
            embedder.tokenizer(["some words to count " * 30], add_special_tokens=False)

    counter = threading.Thread(target=count)
    counter.start()
    try:
        for _ in range(60):
            try:
                vectors = embedder.embed(texts)
            except ValueError as exc:  # "Unable to create tensor ...": padding switched off
                errors.append(str(exc)[:80])
            else:
                assert vectors.shape == (len(texts), embedder.dimension)
    finally:
        done.set()
        counter.join()
    assert errors == []
    assert embedder.tokenizer is not embedder.load().tokenizer
