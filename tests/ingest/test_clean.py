from __future__ import annotations

import unicodedata

import pytest

from ingest.clean import clean_text


def test_whitespace_inside_lines_collapses_and_lines_are_trimmed() -> None:
    assert clean_text("  Hello \t\u00a0 world\u2009!  \n") == "Hello world !"


def test_paragraph_breaks_survive_and_runs_of_blank_lines_collapse() -> None:
    text = "First paragraph.\n\n\n\n\nSecond paragraph.\n   \n\t\nThird."
    assert clean_text(text) == "First paragraph.\n\nSecond paragraph.\n\nThird."


def test_single_line_breaks_inside_a_paragraph_are_kept() -> None:
    assert clean_text("Roses are red,\nviolets are blue.") == "Roses are red,\nviolets are blue."


def test_windows_and_old_mac_newlines() -> None:
    assert clean_text("a\r\n\r\nb\rc") == "a\n\nb\nc"


def test_unicode_is_nfc() -> None:
    decomposed = "Cafe\u0301 cre\u0300me"
    cleaned = clean_text(decomposed)
    assert cleaned == "Café crème"
    assert unicodedata.is_normalized("NFC", cleaned)


def test_zero_width_and_control_characters_are_removed() -> None:
    text = "zero\u200bwidth\ufeff soft\u00adhyphen\u2060 bell\x07 nul\x00 esc\x1b[0m"
    assert clean_text(text) == "zerowidth softhyphen bell nul esc[0m"


def test_joiners_that_spell_emoji_and_scripts_are_kept() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    persian = "می\u200cخواهم"
    assert clean_text(f"{family} {persian}") == f"{family} {persian}"


def test_fenced_code_is_verbatim() -> None:
    code = "```python\ndef f(x):\n\n\n    return  x  *  2   \n\tpass\n```"
    text = f"Intro   text.\n\n\n{code}\n\n\n\nAfter."
    assert clean_text(text) == f"Intro text.\n\n{code}\n\nAfter."


def test_tilde_fence_and_longer_fence_contain_shorter_fences() -> None:
    code = "````\n```\n  inner   spaces\n```\n````"
    assert clean_text(f"x\n\n{code}\n\ny") == f"x\n\n{code}\n\ny"
    tilde = "~~~\n  a    b\n~~~"
    assert clean_text(tilde) == tilde


def test_unclosed_fence_runs_to_the_end_verbatim() -> None:
    text = "Look:\n\n```\nx  =  1\n\n\n\ny  =  2"
    assert clean_text(text) == text


def test_indented_code_after_a_blank_line_is_verbatim() -> None:
    text = (
        "Run this:\n\n    for i in range(3):\n        print( i )\n\n\n        # still code\n\nDone."
    )
    expected = (
        "Run this:\n\n    for i in range(3):\n        print( i )\n\n\n        # still code\n\nDone."
    )
    assert clean_text(text) == expected


def test_indented_continuation_line_of_a_paragraph_is_prose() -> None:
    assert clean_text("A sentence that\n     wraps   here.") == "A sentence that\nwraps here."


def test_nested_list_items_keep_their_indentation() -> None:
    text = "- one\n  - two  words\n    - three"
    assert clean_text(text) == "- one\n  - two words\n    - three"


@pytest.mark.parametrize(
    "line",
    [
        "Share this:",
        "Share on Facebook",
        "Click to share on Twitter (Opens in new window)",
        "Tweet",
        "Advertisement",
        "Skip to content",
        "Continue reading",
        "Related posts",
        "Subscribe to our newsletter",
        "This site uses cookies to improve your experience.",
        "Accept all cookies",
        "Loading...",
        "© 2019 Science X Network",
        "Copyright © 2020 Example Media",
        "[…]",
    ],
)
def test_boilerplate_lines_are_dropped(line: str) -> None:
    assert clean_text(f"Real text.\n\n{line}\n\nMore real text.") == (
        "Real text.\n\nMore real text."
    )


@pytest.mark.parametrize(
    "line",
    [
        "Share your thoughts with the team before Friday.",
        "I tweet about compilers.",
        "We use cookies in this recipe? No, we use biscuits.",
        "Read more books, I told myself.",
    ],
)
def test_sentences_that_merely_mention_boilerplate_words_stay(line: str) -> None:
    assert clean_text(line) == line


def test_boilerplate_words_inside_code_stay() -> None:
    text = "```\nShare this:\nTweet\n```"
    assert clean_text(text) == text


def test_nothing_left_is_empty_string() -> None:
    assert clean_text(" \n\u200b\n\t\n") == ""
    assert clean_text("") == ""


def test_idempotent() -> None:
    text = "Title\n\n\n  Para   one.\n\n```\n  code  \n```\n\n    indented\n\nShare this:\n"
    once = clean_text(text)
    assert clean_text(once) == once
