"""Counts said the way a person reads them: "1 document", "6 documents"."""

from __future__ import annotations


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`count` and the noun that agrees with it ("1 chunk", "2 chunks", "0 chunks")."""
    word = singular if count == 1 else (plural_form or f"{singular}s")
    return f"{count:,} {word}"
