"""The authorship check on real writing, and the bootstrap intervals it reports.

The owner is one real author: 40 of Simon Willison's TIL notes (tests/fixtures/simonw_til,
Apache-2.0, see its README). "Not the owner" is real writing by other people: the bundled
sample/ posts and the text of the real web pages in shared/fixtures/pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.document import Document
from tests.http_server import FIXTURES
from training import bootstrap
from training.attribution import (
    CHANCE,
    NOT_ENOUGH,
    Writing,
    function_word_rates,
    instructions_to_answer,
    others_writing,
    owner_share,
    passages,
    train_attribution,
)
from training.dataset import Example

ROOT = Path(__file__).resolve().parents[2]
TIL = ROOT / "tests" / "fixtures" / "simonw_til"


def til_notes() -> list[Writing]:
    notes = sorted(p for p in TIL.glob("*.md") if p.name != "README.md")
    assert len(notes) == 40
    return [Writing(p.read_text(encoding="utf-8"), p.stem, "owner") for p in notes]


@pytest.fixture(scope="module")
def others() -> list[Writing]:
    import trafilatura

    found = []
    for post in sorted((ROOT / "sample").glob("*.md")):
        text = post.read_text(encoding="utf-8").split("---", 2)[2]  # after the front matter
        found.append(Writing(text, post.stem, "someone else"))
    for page in sorted((FIXTURES / "pages").glob("*.html")):
        text = trafilatura.extract(page.read_text(encoding="utf-8", errors="replace")) or ""
        found.append(Writing(text, page.stem, "someone else"))
    assert len(found) == 21
    return found


def test_the_classifier_tells_a_real_author_from_other_writers(others: list[Writing]) -> None:
    notes = til_notes()
    learned, unseen = notes[:32], notes[32:]
    attribution = train_attribution(learned, others[:-4], seed=0)
    check = attribution.check
    assert check.usable and check.reason == ""
    assert check.owner_documents == 32 and check.chance == CHANCE == 0.5
    assert check.accuracy is not None and check.low is not None and check.high is not None
    assert check.accuracy >= 0.8 and check.low > 0.65  # well above chance, interval and all
    assert check.texts is not None and check.texts["owner"] >= 32
    assert check.line().startswith(f"voice check: held-out accuracy {check.accuracy:.2f} [")

    # Writing it never saw: the author's last 8 notes, the last pages by others.
    mine = attribution.owner_probabilities([w.text for w in unseen])
    theirs = attribution.owner_probabilities([w.text for w in others[-4:]])
    assert owner_share(mine).value >= 0.75
    assert owner_share(theirs).value <= 0.25
    assert attribution.owner_probabilities(["", "   "]) == [0.0, 0.0]


def test_too_little_writing_is_not_enough_to_judge_voice(others: list[Writing]) -> None:
    few = train_attribution(til_notes()[:5], others, seed=0)
    assert not few.check.usable and few.check.accuracy is None
    assert few.check.reason == "5 of your documents to learn from; it needs 10"
    assert few.check.line().startswith(f"voice: {NOT_ENOUGH} (5 of your documents")
    with pytest.raises(ValueError, match=NOT_ENOUGH):
        few.owner_probabilities(["a draft"])
    no_others = train_attribution(til_notes(), others[:1], seed=0)
    assert not no_others.check.usable and "texts by others" in no_others.check.reason


def test_a_classifier_that_cannot_beat_chance_is_not_used() -> None:
    """Half the author's notes against the other half: nothing tells them apart."""
    notes = til_notes()
    same_author = [Writing(w.text, w.group, "someone else") for w in notes[1::2]]
    check = train_attribution(notes[0::2], same_author, seed=0).check
    assert not check.usable and check.accuracy is not None and check.low is not None
    assert check.low <= CHANCE
    assert check.reason == "its accuracy on held-out writing is not above chance"
    assert NOT_ENOUGH in check.line() and "vs chance 0.50" in check.line()


def test_features_and_passages() -> None:
    rates = function_word_rates(["The cat and the dog.", "", "Zebras!"])
    assert rates.shape == (3, len(rates[0])) and rates[0].sum() == pytest.approx(3 / 5)
    assert rates[1].sum() == 0 and rates[2].sum() == 0
    text = "\n\n".join(["one two three"] * 5)
    assert passages(text, max_words=6) == ["one two three\n\none two three"] * 2 + ["one two three"]
    long_lines = "\n".join(["word " * 4] * 3)  # one paragraph, cut at its line breaks
    assert len(passages(long_lines, max_words=5)) == 3


def test_other_peoples_writing_comes_from_marks_and_authors() -> None:
    def doc(url: str, author: str = "", owned: bool | None = None, kind: str = "") -> Document:
        meta = {"kind": kind} if kind else {}
        return Document(url, "web", "t", f"text of {url}", author, owned=owned, meta=meta)

    documents = [
        doc("https://a/mine", "Sam Rivera"),
        doc("https://a/repost", "Sam Rivera", owned=False),  # marked as someone else's
        doc("https://a/shared", "Ada Lovelace"),  # a link the owner shared
        doc("https://a/export", "", owned=True),
        doc("https://a/unknown"),  # no author, no mark: nobody can tell
        doc("https://a/code", "Ada Lovelace", kind="code"),
    ]
    found = others_writing(documents, ["Sam Rivera"])
    assert [w.text for w in found] == ["text of https://a/repost", "text of https://a/shared"]
    assert {w.source for w in found} == {"someone else"}
    assert len(others_writing(documents, ["Sam Rivera"], limit=1)) == 1


def test_the_base_model_answers_one_instruction_per_document() -> None:
    train = [
        Example(f"d{n // 2}", "u", "x", "t", f"Write part {n}.", "answer", part=n)
        for n in range(24)
    ]
    asked = instructions_to_answer(train, [Writing("reused", "d0", "base model")], wanted=5)
    assert [e.document_id for e in asked] == ["d1", "d2", "d3", "d4", "d5"]
    assert instructions_to_answer(train, [], wanted=0) == []
    assert instructions_to_answer(train[:10], [], wanted=5) == []  # 5 documents: too few


def test_bootstrap_intervals_are_seeded_and_narrow_with_more_drafts() -> None:
    few = [0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95]  # P(owner) per draft
    many = few * 20
    first, again = bootstrap.mean_interval(few, seed=3), bootstrap.mean_interval(few, seed=3)
    assert first == again and first.value == pytest.approx(0.5)
    assert bootstrap.mean_interval(few, seed=4) != first  # the seed is what makes it repeat
    assert first.low < 0.5 < first.high
    wide = first.high - first.low
    narrow = (lambda i: i.high - i.low)(bootstrap.mean_interval(many, seed=3))
    assert narrow < wide / 3  # 20 times the drafts: about a 4.5th of the width
    assert first.text() == f"0.50 [{first.low:.2f}, {first.high:.2f}]"
    shares = [owner_share([1.0, 0.0] * n) for n in (5, 50)]
    assert shares[0].value == shares[1].value == 0.5
    assert shares[1].high - shares[1].low < shares[0].high - shares[0].low
    same = bootstrap.paired(bootstrap.mean_of(few), bootstrap.mean_of(few), len(few))
    assert same == bootstrap.Interval(0.0, 0.0, 0.0) and not same.excludes(0.0)
    with pytest.raises(ValueError, match="at least one item"):
        bootstrap.draws(0)
