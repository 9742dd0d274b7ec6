"""The style profile on real writing (Simon Willison's TIL notes, Apache-2.0), real model
output (tests/fixtures/drafts) and posts written here with habits counted by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.style import DISTANCE_FEATURES, StyleDocument, StyleProfile, profile_distance
from model.style_guidance import MIN_DOCUMENTS
from model.style_words import COMMON, baseline
from model.text_features import links, paragraphs, prose, sentences, words

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TIL = [
    p.read_text("utf-8")
    for p in sorted((FIXTURES / "simonw_til").glob("*.md"))
    if p.name != "README.md"
]
DRAFTS = [p.read_text("utf-8") for p in sorted((FIXTURES / "drafts").glob("*.txt"))]

# Six LinkedIn posts with habits counted by hand: each opens with a one-line question,
# has 3 paragraphs, two hashtags on a last line, one rocket emoji, one link in four of
# them, and signs off with "Thoughts?" (five of six).
LINKEDIN = [
    "Why do small models win?\n\nI shipped a 135M model to production last month. It runs "
    "on a laptop CPU and answers in a second 🚀\n\nThe trick was boring evals. "
    "https://example.com/evals\n\nThoughts?\n\n#ai #evals",
    "Who reads your runbook at 3 a.m.?\n\nNobody reads the design doc at night. They read "
    "the first line and act on it 🚀\n\nLead with the command. Say what healthy looks "
    "like. https://example.com/runbooks\n\nThoughts?\n\n#ai #oncall",
    "Is SQLite enough?\n\nMost side projects need one file, not a cluster. I ran "
    "analytics on it for three years 🚀\n\nMove when you need many writers. "
    "https://example.com/sqlite\n\nThoughts?\n\n#ai #sqlite",
    "What does an eval set buy you?\n\nIt writes down what good means, in examples. My "
    "team labels thirty real cases by hand 🚀\n\nLook at failures every week. "
    "https://example.com/evals-weekly\n\nThoughts?\n\n#ai #evals",
    "Do you need a cluster to fine-tune?\n\nOne rented GPU for an afternoon is enough for "
    "LoRA on a 7B model 🚀\n\nQuantize it and serve it from a consumer card.\n\n"
    "Thoughts?\n\n#ai #gpu",
    "Should you fine-tune or retrieve?\n\nRetrieval decides what the model knows. I "
    "fine-tune only when the voice is wrong 🚀\n\nPut the right passages in the context "
    "first.\n\nWhat would you try first?\n\n#ai #rag",
]


@pytest.fixture(scope="module")
def til() -> StyleProfile:
    return StyleProfile.from_texts(TIL, "github")


@pytest.fixture(scope="module")
def posts() -> StyleProfile:
    return StyleProfile.from_texts(LINKEDIN, "linkedin")


def test_text_features_leave_code_urls_and_markup_out_of_prose() -> None:
    note = (
        "# A heading\n\nI ran `pip install x` and [the docs](https://e.com/d) helped. "
        "See https://e.com/x too.\n\n```python\nprint('not prose. at all.')\n```\n\n"
        '<img width="10" src="a.png">| a | b |\nDone?'
    )
    text = prose(note)
    assert "heading" not in text and "print" not in text and "https" not in text
    assert "img" not in text and "| a |" not in text
    assert words(text) == ["I", "ran", "and", "the", "docs", "helped", "See", "too", "Done"]
    assert sentences(text) == ["I ran  and the docs helped.", "See  too.", "Done?"]
    assert len(paragraphs(text)) == 2
    assert links(note) == ["https://e.com/d", "https://e.com/x"]


def test_the_profile_counts_known_habits_exactly(posts: StyleProfile) -> None:
    stats = posts.stats("linkedin")
    assert stats.documents == 6 and posts.platforms.keys() == {"linkedin"}
    assert stats.opens_question == 1.0 and stats.opens_hook == 1.0
    assert stats.closes_question == 1.0  # "Thoughts?" and the last post's question
    assert [(s.text, s.documents) for s in stats.sign_offs] == [("Thoughts?", 5)]
    assert stats.hashtags_per_post == 2.0 and stats.posts_with_hashtags == 1.0
    assert stats.top_hashtags[0].text == "#ai" and stats.top_hashtags[0].documents == 6
    assert stats.emoji_per_post == 1.0 and stats.top_emoji[0].text == "🚀"
    assert stats.links_per_post == pytest.approx(4 / 6)
    # hashtags on the last line are not prose: post lengths count the words before them
    lengths = sorted(len(words(prose(p).rsplit("\n\n", 1)[0])) for p in LINKEDIN)
    assert stats.post_words.median == pytest.approx((lengths[2] + lengths[3]) / 2)
    first_person = sum(1 for p in LINKEDIN for w in words(prose(p)) if w.lower() in {"i", "my"})
    assert stats.first_person_rate == pytest.approx(100 * first_person / stats.words)


def test_guidance_states_the_habits_it_has_evidence_for(posts: StyleProfile) -> None:
    lines = posts.render_guidance("linkedin")
    assert "opens with a one-line question (6 of 6)" in lines
    assert "signs off with 'Thoughts?' (5 of 6)" in lines
    assert "ends with a question (6 of 6)" in lines
    assert "hashtags: about 2 per post, e.g. #ai #evals" in lines
    assert "emoji: about 1 per post, e.g. 🚀" in lines
    assert lines[0].startswith("length: ") and lines[0].endswith(" words")


def test_writing_without_hashtags_or_emoji_says_so(til: StyleProfile) -> None:
    lines = til.render_guidance("github")
    assert "no hashtags" in lines and "no emoji" in lines
    assert not any(line.startswith(("opens with", "ends with", "signs off")) for line in lines)
    assert any(line.startswith("links: about ") for line in lines)  # TILs link a lot
    assert any(line.startswith("writes in the first person") for line in lines)


def test_signature_words_are_distinctive_not_common_english(til: StyleProfile) -> None:
    found = {s.text for s in til.overall.signature_words}
    common = {w for w in list(baseline().rates)[:COMMON]}
    assert not found & common and "the" not in found
    assert {"datasette", "python", "github"} <= found  # what Simon writes about, by name
    assert all(s.documents >= 3 for s in til.overall.signature_words)  # habits, recurring
    phrases = {s.text for s in til.overall.signature_phrases}
    assert "github actions" in phrases and all(" " in p for p in phrases)
    assert not any(p.split()[0] in {"the", "of", "and", "to", "in", "a"} for p in phrases)


def test_too_little_writing_says_so_and_describes_nothing() -> None:
    few = StyleProfile.from_texts(LINKEDIN[: MIN_DOCUMENTS - 1], "linkedin")
    for lines in (few.render_guidance(), few.render_guidance("linkedin")):
        assert lines == [
            f"not enough of your writing to describe your style: {MIN_DOCUMENTS - 1} "
            f"documents, at least {MIN_DOCUMENTS} are needed (add more of your own posts)"
        ]
    assert few.prompt_guidance(["linkedin"]) == (None, [])
    assert not few.enough()
    assert StyleProfile.from_texts([]).render_guidance()[0].startswith("not enough")


def test_a_platform_with_too_little_falls_back_to_all_writing_and_says_so() -> None:
    mixed = StyleProfile.from_documents(
        [StyleDocument(t, "github") for t in TIL[:8]] + [StyleDocument(LINKEDIN[0], "linkedin")]
    )
    lines = mixed.render_guidance("linkedin")
    assert lines[0] == (
        "from all your writing: 1 of your documents are linkedin, and a linkedin profile "
        f"needs at least {MIN_DOCUMENTS}"
    )
    assert lines[1:] == mixed.render_guidance()
    assert mixed.prompt_guidance(["linkedin"]) == (None, mixed.render_guidance())
    assert mixed.prompt_guidance(["github"])[0] == "github"


def test_profile_distance_is_zero_for_the_same_and_larger_for_model_drafts(
    til: StyleProfile,
) -> None:
    half, other = StyleProfile.from_texts(TIL[::2]), StyleProfile.from_texts(TIL[1::2])
    drafts = StyleProfile.from_texts(DRAFTS)
    assert profile_distance(til, til) == 0.0
    assert 0.0 < profile_distance(half, other) < profile_distance(half, drafts) <= 1.0
    assert profile_distance(half, drafts) == pytest.approx(profile_distance(drafts, half))
    assert len(DISTANCE_FEATURES) == 11


def test_json_round_trips_and_carries_the_guidance(posts: StyleProfile) -> None:
    data = json.loads(json.dumps(posts.to_json()))
    assert data["documents"] == 6 and data["min_documents"] == MIN_DOCUMENTS
    assert data["guidance"]["linkedin"] == posts.render_guidance("linkedin")
    assert data["platforms"]["linkedin"]["sign_offs"] == [{"text": "Thoughts?", "documents": 5}]
    back = StyleProfile.from_json(data)
    assert back.render_guidance("linkedin") == posts.render_guidance("linkedin")
    assert profile_distance(back, posts) == pytest.approx(0.0, abs=1e-3)
