"""Platform shape on real drafts: tests/fixtures/drafts/ holds what the bundled SmolLM2-135M
wrote through the `llamacpp` backend (captured by tests/fixtures/drafts/capture.py, with
how each ended in manifest.json), plus `handmade-…` drafts for the shapes that model never
produced (a thread it numbered itself, a ```markdown fence, "Certainly! Here is…")."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from model.shape import (
    cut_to_sentence,
    fit_linkedin,
    number_thread,
    sentences,
    shape,
    strip_meta,
    unfence,
    x_length,
)

ROOT = Path(__file__).resolve().parents[2]
DRAFTS = ROOT / "tests" / "fixtures" / "drafts"
MANIFEST: dict[str, dict[str, str]] = json.loads(
    (DRAFTS / "manifest.json").read_text(encoding="utf-8")
)
CUT_NOTE = "cut back to the last whole sentence: the model stopped at drafting.max_new_tokens"
POST = re.compile(r"^(\d+)/ (.+)$", re.DOTALL)
MODEL_NUMBERING = re.compile(r"^\s*(?:\(?\d+\s*/\s*\d*\)?|\d+[.)]\s|(?:tweet|post)\s*\d)", re.I)
SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")


def raw(name: str) -> str:
    return (DRAFTS / name).read_text(encoding="utf-8")


def shaped(name: str, linkedin_max_chars: int = 1300) -> tuple[str, tuple[str, ...]]:
    meta = MANIFEST[name]
    result = shape(
        raw(name),
        meta["format"],
        finish_reason=meta["finish_reason"],
        linkedin_max_chars=linkedin_max_chars,
    )
    return result.text, result.notes


def named(fmt: str, reason: str | None = None) -> list[str]:
    return [
        name
        for name, meta in sorted(MANIFEST.items())
        if meta["format"] == fmt and reason in (None, meta["finish_reason"])
    ]


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def is_subsequence(short: list[str], long: list[str]) -> bool:
    rest = iter(long)
    return all(word in rest for word in short)


def posts(thread: str) -> list[tuple[int, str]]:
    found = []
    for post in thread.split("\n\n"):
        match = POST.match(post)
        assert match, f"not a numbered post: {post!r}"
        found.append((int(match.group(1)), match.group(2)))
    return found


def ends_whole(text: str, source: str) -> bool:
    """Ends at a sentence end, or with a whole line of `source` (a heading, a list item)."""
    last = text.rstrip().splitlines()[-1]
    return bool(SENTENCE_END.search(last)) or f"{last.strip()}\n" in source


# --- the fixtures ---------------------------------------------------------------------------


def test_every_fixture_says_where_it_came_from() -> None:
    on_disk = {p.name for p in DRAFTS.glob("*.txt")}
    assert on_disk == set(MANIFEST)
    for name, meta in MANIFEST.items():
        handmade = meta["backend"] == "handmade"
        assert name.startswith("handmade-") == handmade, name
        assert handmade or meta["model"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    real = [m for m in MANIFEST.values() if m["backend"] == "llamacpp"]
    assert {m["format"] for m in real} == {"thread", "linkedin", "article", "answer"}
    assert sum(m["finish_reason"] == "length" for m in real) >= 5


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_shaping_only_removes_and_splits_the_models_words(name: str) -> None:
    text, _ = shaped(name)
    if MANIFEST[name]["format"] == "thread":
        text = "\n\n".join(body for _, body in posts(text))
    assert text.strip()
    assert is_subsequence(words(text), words(raw(name)))


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_shaping_twice_changes_nothing(name: str) -> None:
    text, _ = shaped(name)
    fmt = MANIFEST[name]["format"]
    assert shape(text, fmt).text == text


# --- threads --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", named("thread"))
def test_a_thread_is_consecutively_numbered_posts_within_280(name: str) -> None:
    text, _ = shaped(name)
    numbered = posts(text)
    assert [n for n, _ in numbered] == list(range(1, len(numbered) + 1))
    for n, body in numbered:
        assert x_length(f"{n}/ {body}") <= 280
        assert not MODEL_NUMBERING.match(body), body


def test_the_real_threads_came_unnumbered_and_too_long() -> None:
    real = [n for n in named("thread") if not n.startswith("handmade")]
    for name in real:
        assert not re.search(r"^\s*1[/.)]", raw(name), re.MULTILINE)
        assert max(len(p) for p in raw(name).splitlines()) > 280  # a post to split
        assert shaped(name)[0].startswith("1/ ")


def test_the_models_own_numbering_is_replaced_and_long_posts_split() -> None:
    text, _ = shaped("handmade-thread-numbered-mixed.txt")
    numbered = dict(posts(text))
    assert numbered[1].startswith("At 3 a.m. nobody reads your design doc.")
    for marker in ("2/", "Tweet 3", "(4/6)", "5/6", "Post 6", "(6/6)"):
        assert not any(marker in body for body in numbered.values()), marker
    # the post of four sentences became two, split between sentences
    assert numbered[2].endswith("so the reader knows when to stop.")
    assert numbered[3].startswith("I now write every post")
    # a link counts as 23 characters, as X counts it
    assert "https://example.com/" in numbered[4] and len(numbered[4]) > 280
    assert x_length(numbered[4]) <= 276
    # one sentence of 330 characters: split between words
    assert numbered[5].endswith("page the database") and numbered[6].startswith("team if")
    assert numbered[len(numbered)].endswith("saved you at 3 a.m.?")


def test_x_counts_links_as_23_and_wide_characters_as_2() -> None:
    assert x_length("see https://example.com/" + "a" * 300) == 4 + 23
    assert x_length("ok 👍") == 5 and x_length("日本") == 4
    assert x_length("café — “quoted”") == len("café — “quoted”")


def test_a_thread_post_with_no_sentence_end_is_split_between_words() -> None:
    thread = number_thread(" ".join(["word"] * 200))
    assert all(x_length(p) <= 280 for p in thread.split("\n\n"))
    assert words(" ".join(body for _, body in posts(thread))) == ["word"] * 200


# --- LinkedIn -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", named("linkedin"))
@pytest.mark.parametrize("limit", [1300, 400])
def test_a_linkedin_post_fits_the_target_cut_at_a_sentence_end(name: str, limit: int) -> None:
    text, notes = shaped(name, linkedin_max_chars=limit)
    assert len(text) <= limit or text == raw(name).strip()  # all meta-talk: left alone
    if len(raw(name)) > limit and text != raw(name).strip():
        body = re.sub(r"\n\n(#\w+ ?)+$", "", text)
        assert ends_whole(body, raw(name))
    if any("linkedin_max_chars" in n for n in notes):
        assert f"cut to {limit:,} characters at a sentence end" in " ".join(notes)


def test_the_real_long_post_is_cut_to_1300() -> None:
    name = "linkedin-small-models.txt"
    assert len(raw(name)) > 1600
    text, notes = shaped(name)
    assert 1000 < len(text) <= 1300 and text.endswith("going for the next challenge.")
    assert notes == (
        CUT_NOTE,
        "cut to 1,300 characters at a sentence end (drafting.linkedin_max_chars)",
    )


def test_hashtags_stay_at_the_end_of_a_cut_post() -> None:
    text, _ = shaped("handmade-linkedin-preamble-long.txt")
    assert len(text) <= 1300 and text.endswith("needs a platform.\n\n#evals #mlops")


def test_a_linkedin_post_never_passes_3000_characters() -> None:
    text = shape("One. Two. " * 400, "linkedin", linkedin_max_chars=5000).text
    assert 2990 <= len(text) <= 3000 and text.endswith(".")


def test_a_first_sentence_longer_than_the_target_is_cut_between_words() -> None:
    text = fit_linkedin("word " * 400, 1300)
    assert len(text) <= 1300 and text.endswith("word…")


# --- outlines and fences ----------------------------------------------------------------------


def test_a_fenced_outline_comes_out_bare_markdown() -> None:
    text, _ = shaped("handmade-article-markdown-fence.txt")
    assert text.startswith("# Retrieval before fine-tuning\n")
    assert text.endswith("comes before any learning rate.") and "```" not in text
    cut, notes = shaped("handmade-article-unclosed-fence-cut.txt")
    assert cut.startswith("# GPU budgets") and cut.endswith("not the hourly price.")
    assert notes == (CUT_NOTE,)


def test_the_real_html_fence_is_removed_too() -> None:
    text, _ = shaped("article-bare-pre-code.txt")
    assert "<pre>" not in text and "<code>" not in text and text.startswith("#")


def test_code_in_an_answer_or_inside_a_post_keeps_its_fence() -> None:
    assert shaped("answer-bare-code.txt")[0] == raw("answer-bare-code.txt").strip()
    assert unfence("```python\nprint(1)\n```") == "```python\nprint(1)\n```"
    fenced = "Intro:\n\n```\ncode\n```\n\nAfter."
    assert unfence(fenced) == fenced


# --- preambles and sign-offs ----------------------------------------------------------------

# (how the shaped draft starts, how it ends): the model's preamble and sign-off are gone
META = {
    "article-bare-following-is.txt": ("#1: The purpose of this article", None),
    "article-bare-heres-the-outline.txt": ("1. Introduction", None),
    "article-bare-happy-to-help.txt": ("- The first section", None),
    "thread-bare-as-an-ai.txt": ("1/ In this chatroom, there is a special feature", None),
    "answer-bare-revised-response.txt": ("In addition to the recommended approach", None),
    "linkedin-long-evals.txt": (None, "when it comes to editing!"),  # a leaked </material>
    "handmade-thread-numbered-mixed.txt": ("1/ At 3 a.m.", "saved you at 3 a.m.?"),
    "handmade-article-markdown-fence.txt": ("# Retrieval", "before any learning rate."),
    "handmade-linkedin-preamble-long.txt": ("A model without an evaluation set", "#mlops"),
    "handmade-answer-as-an-ai.txt": ("Most side projects", "not a rewrite."),
}


@pytest.mark.parametrize("name", sorted(META))
def test_the_assistants_preamble_and_sign_off_are_removed(name: str) -> None:
    start, end = META[name]
    text, _ = shaped(name)
    assert text.startswith(start or text[:20]) and text.endswith(end or text[-20:])
    assert text != raw(name).strip()


def test_a_draft_that_is_all_meta_talk_is_left_as_it_came() -> None:
    name = "linkedin-bare-sure.txt"
    assert shaped(name)[0] == raw(name).strip()


SAMPLE_POSTS = sorted((ROOT / "sample").glob("*.md"))


@pytest.mark.parametrize("path", SAMPLE_POSTS, ids=lambda p: p.name)
@pytest.mark.parametrize("fmt", ["linkedin", "article", "answer"])
def test_the_owners_real_writing_is_left_alone(path: Path, fmt: str) -> None:
    body = path.read_text(encoding="utf-8").split("---", 2)[2].strip()
    assert shape(body, fmt).text == body


def test_the_owners_lines_that_look_like_meta_talk_stay() -> None:
    name = "handmade-linkedin-owner-lookalikes.txt"
    assert shaped(name)[0] == raw(name).strip()


@pytest.mark.parametrize(
    "line",
    [
        "Here's what I learned after five years on call:",
        "Here's the thing: nobody reads the runbook.",
        "Here are three lessons from on-call:",
        "Sure, it's tempting to fine-tune first.",
        "Of course, nobody reads the design doc.",
        "As an AI engineer, I ship small models first.",
        "I'm an AI researcher who writes runbooks.",
        "I'm happy to share the template with anyone who asks.",
        "I'm happy to write about failure in public.",
        "I'm ready to collaborate with the team at Hugging Face on evals.",
        "I'm excited to help new on-call engineers.",
        "Let me know if you've ever been paged over a typo.",
        "Let me know if you have any horror stories.",
        "I hope this helps someone on call tonight.",
        "Please share this with your on-call team.",
        "The following week we moved to Postgres.",
    ],
)
def test_owner_lines_survive_as_first_or_last_sentence(line: str) -> None:
    body = "Short sentences. No throat-clearing."
    for text in (f"{line}\n\n{body}", f"{body}\n\n{line}", f"{line} {body}", f"{body} {line}"):
        assert strip_meta(text) == text


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Sure! Here's a LinkedIn post about evals:\n\nBody.", "Body."),
        ("Certainly! Here is an outline for your article:\n\n# T", "# T"),
        ("Here is a LinkedIn post in Sam's voice:\nBody.", "Body."),
        ("I'm ready to help you collaborate on this! Body.", "Body."),
        ("I'm ready to collaborate on your post. Body.", "Body."),
        ("I'd be glad to write a LinkedIn post about evals! Body.", "Body."),
        ("I'm here to help with your writing. Body.", "Body."),
        ("As an AI, I have no opinions. Body.", "Body."),
        ("Body.\n\nLet me know if you'd like any changes!", "Body."),
        ("Body. I hope this helps!", "Body."),
        ("Body.\n\nHope this helps. Let me know if there's anything else I can do.", "Body."),
        ("Body.\n\nWould you like me to add hashtags?", "Body."),
    ],
)
def test_meta_talk_around_a_draft_is_removed(text: str, kept: str) -> None:
    assert strip_meta(text) == kept


# --- a draft the model stopped early ----------------------------------------------------------


@pytest.mark.parametrize("name", [n for n, m in MANIFEST.items() if m["finish_reason"] == "length"])
def test_a_draft_stopped_at_the_length_limit_ends_at_a_whole_sentence(name: str) -> None:
    text, notes = shaped(name)
    if MANIFEST[name]["format"] == "thread":
        text = posts(text)[-1][1]
    assert ends_whole(text, raw(name) + "\n")
    assert notes[0] == CUT_NOTE


def test_cut_to_sentence() -> None:
    assert cut_to_sentence("One thing. Another th") == "One thing."
    assert cut_to_sentence("It is 3 a.m. and nob") == ""  # no whole sentence
    assert cut_to_sentence("# Title\n- one\n- tw") == "# Title\n- one"
    assert cut_to_sentence('He said "stop." Then') == 'He said "stop."'
    assert cut_to_sentence("Whole. Sentences!") == "Whole. Sentences!"
    assert sentences("See e.g. this. Dr. Who wins. U.S. law.") == [
        "See e.g. this.",
        "Dr. Who wins.",
        "U.S. law.",
    ]


def test_the_notes_say_why_and_where_it_stopped() -> None:
    assert shape("One. Two th", "answer", finish_reason="timeout").notes == (
        "cut back to the last whole sentence: the model stopped at model.timeout",
    )
    assert shape("no end at all", "answer", finish_reason="length") == shape(
        "no end at all", "answer", finish_reason="length"
    )
    whole = shape("Whole sentence.", "answer", finish_reason="length")
    assert whole.text == "Whole sentence." and "at the end of a sentence" in whole.notes[0]
    partial = shape("no end at all", "answer", finish_reason="length")
    assert partial.text == "no end at all" and "mid-sentence" in partial.notes[0]
    assert shape("One. Two th", "answer", finish_reason="stop").notes == ()


# --- a speaker label ------------------------------------------------------------------------


def test_the_real_speaker_label_line_goes() -> None:
    """The voice bench's base draft opens with its owner's name as a transcript label."""
    text = raw("handmade-answer-speaker-label.txt")
    assert text.startswith("Simon Willison:\n")
    out = shape(text, "answer", speakers=("Simon Willison",)).text
    assert out.startswith("I'm excited to announce") and out == text.split("\n", 1)[1].strip()
    # Without the owner's name it is not known to be a label: it stays.
    assert shape(text, "answer").text.startswith("Simon Willison:")


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Assistant:\nSQLite is enough.", "SQLite is enough."),
        ("**Sam Rivera:**\n\nI ship small.", "I ship small."),
        ("sam rivera:\nI ship small.", "I ship small."),
        # Not a label: the owner's own heading, a name inside a line, a label and nothing else.
        ("Lessons learned:\nShip small.", "Lessons learned:\nShip small."),
        ("Sam Rivera: shipping small.\nMore.", "Sam Rivera: shipping small.\nMore."),
        ("Sam Rivera:", "Sam Rivera:"),
    ],
)
def test_only_a_line_that_just_names_the_speaker_goes(text: str, kept: str) -> None:
    assert shape(text, "answer", speakers=("Sam Rivera", "")).text == kept
