"""Token-aware chunking on paragraph and sentence boundaries, with overlap.

Sizes are counted with the embedder's own tokenizer, so a chunk never silently overflows
the embedding model's window. Paragraphs are kept whole where they fit; longer ones split
on sentences; a sentence longer than a chunk splits on token boundaries. Code blocks are
kept verbatim and split on lines only when they must be.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass

from retrieval.embedder import Tokenizer

_FENCE = re.compile(r"^\s*(```|~~~)")
# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) and whitespace.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+")


@dataclass(frozen=True, slots=True)
class _Unit:
    text: str
    tokens: int
    joiner: str  # what goes between the previous unit and this one


@dataclass(frozen=True, slots=True)
class _Block:
    text: str
    is_code: bool


def split_blocks(text: str) -> list[_Block]:
    """Paragraphs separated by blank lines; a fenced code block is one block even when it
    contains blank lines."""
    blocks: list[_Block] = []
    current: list[str] = []
    in_code = False

    def flush(is_code: bool) -> None:
        body = "\n".join(current).strip("\n")
        if body.strip():
            blocks.append(_Block(body, is_code))
        current.clear()

    for line in text.split("\n"):
        if _FENCE.match(line):
            if in_code:
                current.append(line)
                flush(True)
                in_code = False
            else:
                flush(False)
                current.append(line)
                in_code = True
        elif in_code:
            current.append(line)
        elif not line.strip():
            flush(False)
        else:
            current.append(line)
    flush(in_code)
    return blocks


class Chunker:
    def __init__(self, tokenizer: Tokenizer, max_tokens: int, overlap_tokens: int) -> None:
        if not 0 <= overlap_tokens < max_tokens:
            raise ValueError("overlap_tokens must be in [0, max_tokens)")
        self._tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens

    def split(self, text: str) -> list[str]:
        blocks = split_blocks(text)
        if not blocks:
            return []
        encoded = self._tokenizer(
            [b.text for b in blocks],
            add_special_tokens=False,
            return_offsets_mapping=True,
            verbose=False,  # counting only: no "longer than the model maximum" warning
        )
        units: list[_Unit] = []
        for block, offsets in zip(blocks, encoded["offset_mapping"], strict=True):
            units.extend(self._units(block, [tuple(o) for o in offsets]))
        return list(self._pack(units))

    def _units(self, block: _Block, offsets: list[tuple[int, int]]) -> Iterator[_Unit]:
        if len(offsets) <= self.max_tokens:
            yield _Unit(block.text, len(offsets), "\n\n")
            return
        starts = [start for start, _ in offsets]
        spans = _line_spans(block.text) if block.is_code else _sentence_spans(block.text)
        inner = "\n" if block.is_code else " "
        first = True
        for a, b in spans:
            lo, hi = bisect.bisect_left(starts, a), bisect.bisect_left(starts, b)
            if hi - lo <= self.max_tokens:
                pieces = [(a, b, hi - lo)]
            else:  # one sentence or line longer than a chunk: cut on token boundaries
                pieces = []
                for i in range(lo, hi, self.max_tokens):
                    j = min(i + self.max_tokens, hi)
                    pieces.append((offsets[i][0], offsets[j - 1][1], j - i))
            for start, end, count in pieces:
                piece = block.text[start:end]
                if piece.strip():
                    text = piece if block.is_code else piece.strip()
                    yield _Unit(text, count, "\n\n" if first else inner)
                    first = False

    def _pack(self, units: list[_Unit]) -> Iterator[str]:
        chunk: list[_Unit] = []
        size = 0
        for unit in units:
            if chunk and size + unit.tokens > self.max_tokens:
                yield _join(chunk)
                chunk = self._overlap(chunk, room=self.max_tokens - unit.tokens)
                size = sum(u.tokens for u in chunk)
            chunk.append(unit)
            size += unit.tokens
        if chunk:
            yield _join(chunk)

    def _overlap(self, previous: list[_Unit], room: int) -> list[_Unit]:
        """The trailing units of the previous chunk that fit in the overlap budget."""
        budget = min(self.overlap_tokens, room)
        carried: list[_Unit] = []
        used = 0
        for unit in reversed(previous):
            if used + unit.tokens > budget:
                break
            carried.insert(0, unit)
            used += unit.tokens
        return carried


def _join(units: list[_Unit]) -> str:
    parts = [units[0].text]
    for unit in units[1:]:
        parts.append(unit.joiner)
        parts.append(unit.text)
    return "".join(parts)


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        spans.append((start, match.start() + len(match.group(0).rstrip())))
        start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def _line_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for line in text.split("\n"):
        spans.append((start, start + len(line)))
        start += len(line) + 1
    return spans
