"""Evaluation on the held-out split: stylometry, answer-only perplexity, drafts, the report.

Real parts throughout: the tiny random Llama with SmolLM2's tokenizer, a LoRA adapter
trained here for a few steps on the held-out answers, and the bundled MiniLM embedder."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError, InputError
from retrieval.embedder import SentenceTransformerEmbedder
from training.attribution import Writing
from training.dataset import DatasetStats, Example, read_split, save_dataset
from training.evaluate import (
    EvalReport,
    ModelSpec,
    Sample,
    answer_nll,
    chat_ids,
    evaluate,
    load_model,
)
from training.settings import TrainingSettings
from training.stylometry import (
    Stylometry,
    distance,
    emoji,
    hashtags,
    measure,
    sentences,
    vocabulary,
    words,
)

TRAIN_ANSWERS = [
    "Retrieval first, fine-tuning second. I measure before I tune anything. #AI",
    "Ship small things. Ship them often! Your users will tell you what matters 🚀",
    "Most of my week goes to reading logs. Boring work wins. #buildinpublic",
    "I keep a notebook of failed experiments. It is the best thing I own.",
]
TEST_ANSWERS = [
    "Shipping beats polishing. I learned that the hard way 🚀 #buildinpublic",
    "Measure first, then tune. Retrieval gets you most of the way. #AI #RAG",
]
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
SETTINGS = TrainingSettings(
    eval_drafts=2, eval_samples=2, eval_max_new_tokens=6, max_seq_len=256, seed=0, device="cpu"
)


def example(n: int, answer: str) -> Example:
    return Example(
        document_id=f"doc{n}",
        url=f"https://example.com/{n}",
        platform="linkedin",
        title=f"Post {n}",
        instruction=f"Write a LinkedIn post about lesson {n}.",
        answer=answer,
    )


def held_out() -> list[Example]:
    return [example(10 + n, a) for n, a in enumerate(TEST_ANSWERS)]


@pytest.fixture
def dataset_folder(tmp_path: Path) -> Path:
    train = [example(n, a) for n, a in enumerate(TRAIN_ANSWERS)]
    return save_dataset(tmp_path / "datasets", train, held_out(), DatasetStats()).folder


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def trained_adapter(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter trained for a few steps on the held-out answers (answer-only loss)."""
    import torch
    from peft import LoraConfig, get_peft_model

    model, tokenizer = load_model(ModelSpec("base", tiny_model_dir))
    torch.manual_seed(0)
    modules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=modules))
    peft_model.train()
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-2)
    for _ in range(10):
        for item in held_out():
            prompt, answer = chat_ids(tokenizer, item.instruction, item.answer)
            labels = torch.tensor([[-100] * len(prompt) + answer])
            peft_model(input_ids=torch.tensor([prompt + answer]), labels=labels).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    target = tmp_path_factory.mktemp("adapter")
    peft_model.save_pretrained(str(target))
    return target


# --- stylometry -----------------------------------------------------------------------


def test_stylometry_counts_words_sentences_emoji_and_hashtags() -> None:
    assert words("I don't tune state-of-the-art #AI") == [
        "I",
        "don't",
        "tune",
        "state",
        "of",
        "the",
        "art",
        "AI",
    ]
    assert sentences("One. Two words!\nThree  here? 🚀\n\n") == [
        "One.",
        "Two words!",
        "Three  here?",
    ]
    assert emoji("Team 👩‍💻 and 👍🏽, 🇫🇷, ❤️ 🚀🚀 → •") == ["👩‍💻", "👍🏽", "🇫🇷", "❤️", "🚀", "🚀"]
    assert hashtags("C# and #1 and page#anchor and &#39; and #AI. #build_in_public") == [
        "#AI",
        "#build_in_public",
    ]


def test_stylometry_of_hand_written_texts() -> None:
    texts = [
        "I ship small things. Then I ship them again! 🚀🚀 #buildinpublic",  # 10 words, 3 sentences
        "Fine-tuning is not magic.\nMeasure first 👩‍💻 #AI #ML",  # 9 words, 2 sentences
    ]
    owner_vocabulary = vocabulary(["I SHIP things", "measure magic"])
    assert owner_vocabulary == {"i", "ship", "things", "measure", "magic"}
    style = measure(texts, owner_vocabulary)
    assert style.sentence_length == pytest.approx(19 / 5)
    assert style.emoji_rate == pytest.approx(300 / 19)
    assert style.hashtag_rate == pytest.approx(300 / 19)
    assert style.vocabulary_overlap == pytest.approx((3 / 8 + 2 / 9) / 2)
    assert measure(["", "🚀"], owner_vocabulary) == Stylometry(0.0, 0.0, 0.0, 0.0)


def test_stylometry_distance_is_zero_for_identical_and_relative_otherwise() -> None:
    owner = Stylometry(sentence_length=5, emoji_rate=0, hashtag_rate=4, vocabulary_overlap=1)
    assert distance(owner, owner) == 0
    drafts = Stylometry(sentence_length=10, emoji_rate=0, hashtag_rate=2, vocabulary_overlap=1)
    assert distance(drafts, owner) == pytest.approx((5 / 10 + 0 + 2 / 4 + 0) / 4)
    emoji_only = Stylometry(sentence_length=5, emoji_rate=3, hashtag_rate=4, vocabulary_overlap=1)
    assert distance(emoji_only, owner) == pytest.approx(1 / 4)  # bounded, though owner has 0


# --- perplexity -------------------------------------------------------------------------


def test_only_the_answer_and_its_end_of_turn_are_scored(
    tiny_model_dir: Path, tokenizer: Any
) -> None:
    import torch

    model, _ = load_model(ModelSpec("base", tiny_model_dir))
    answer = TEST_ANSWERS[0]
    short_prompt, answer_ids = chat_ids(tokenizer, "Write a post.", answer)
    long_prompt, same_answer_ids = chat_ids(tokenizer, "Write a long post about shipping.", answer)
    expected = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    assert answer_ids == same_answer_ids == expected
    assert len(long_prompt) > len(short_prompt)
    assert tokenizer.decode(short_prompt).endswith("assistant\n")  # the generation prompt

    for instruction, prompt in (
        ("Write a post.", short_prompt),
        ("Write a long post about shipping.", long_prompt),
    ):
        nll, scored = answer_nll(model, tokenizer, instruction, answer, 256)
        assert scored == len(answer_ids)  # the instruction changes nothing about what is scored
        # transformers' own loss with the prompt masked by hand, as a sum over the answer
        ids = torch.tensor([prompt + answer_ids])
        labels = torch.tensor([[-100] * len(prompt) + answer_ids])
        with torch.no_grad():
            reference = model(input_ids=ids, labels=labels).loss.item() * len(answer_ids)
            unmasked = model(input_ids=ids, labels=ids).loss.item() * (ids.shape[1] - 1)
        assert nll == pytest.approx(reference, rel=1e-4)
        assert nll != pytest.approx(unmasked, rel=1e-2)


def test_long_examples_are_cut_at_max_seq_len(tiny_model_dir: Path, tokenizer: Any) -> None:
    model, _ = load_model(ModelSpec("base", tiny_model_dir))
    prompt, _ = chat_ids(tokenizer, "Write a post.", TEST_ANSWERS[0])
    assert answer_nll(model, tokenizer, "Write a post.", TEST_ANSWERS[0], len(prompt) + 3)[1] == 3
    assert answer_nll(model, tokenizer, "Write a post.", TEST_ANSWERS[0], len(prompt)) == (0.0, 0)


# --- evaluate() and the report --------------------------------------------------------


def test_base_and_tuned_are_evaluated_side_by_side(
    tiny_model_dir: Path,
    trained_adapter: Path,
    dataset_folder: Path,
    embedder: SentenceTransformerEmbedder,
    tokenizer: Any,
    tmp_path: Path,
) -> None:
    calls: list[tuple[str, int, int]] = []
    models = [
        ModelSpec("base", tiny_model_dir),
        ModelSpec("tuned", tiny_model_dir, trained_adapter),
    ]
    report = evaluate(models, dataset_folder, embedder, SETTINGS, lambda *call: calls.append(call))

    assert report.models == ["base", "tuned"]
    assert report.test_examples == 2 and report.centroid == "train and test"  # tiny test split
    # perplexity is the token-weighted mean NLL over the held-out answers, exponentiated
    base, _ = load_model(models[0])
    scores = [answer_nll(base, tokenizer, e.instruction, e.answer, 256) for e in held_out()]
    expected = math.exp(sum(s[0] for s in scores) / sum(s[1] for s in scores))
    assert report.metrics["base"]["perplexity"] == pytest.approx(expected, rel=1e-4)
    assert report.metrics["base"]["answer_tokens"] == sum(s[1] for s in scores)
    # the adapter trained on those answers lowers it; promotion on perplexity follows
    assert report.metrics["tuned"]["perplexity"] < 0.9 * report.metrics["base"]["perplexity"]
    assert report.beats("tuned", "base", "perplexity")
    assert not report.beats("base", "tuned", "perplexity")
    base_style = report.metrics["base"]["style_similarity"]
    tuned_style = report.metrics["tuned"]["style_similarity"]
    assert -1 <= base_style <= 1 and -1 <= tuned_style <= 1
    assert report.beats("tuned", "base", "style") == (tuned_style > base_style)
    assert report.beats("base", "tuned", "style") == (base_style > tuned_style)
    for name in report.models:
        assert 0 <= report.metrics[name]["stylometry_distance"] <= 1
        assert report.metrics[name]["drafts"] == 2
    assert report.owner["hashtag_rate"] == pytest.approx(100 * 3 / 23)
    assert report.owner["vocabulary_overlap"] == 1.0

    assert [s.answer for s in report.samples] == TEST_ANSWERS
    assert all(set(s.drafts) == {"base", "tuned"} for s in report.samples)
    assert ("perplexity base", 2, 2) in calls and ("drafts tuned", 2, 2) in calls
    assert calls.index(("drafts base", 2, 2)) < calls.index(("perplexity tuned", 0, 2))

    report.save(tmp_path / "eval")
    saved = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert EvalReport.from_json(saved) == report == EvalReport.load(tmp_path / "eval")
    markdown = (tmp_path / "eval" / "eval.md").read_text()
    assert "| metric | base | tuned | owner |" in markdown
    assert markdown.count("\n### ") == 2 and TEST_ANSWERS[1] in markdown
    assert "| perplexity (lower is better) |" in report.table()


def test_voice_is_judged_when_the_owner_wrote_enough(
    tiny_model_dir: Path,
    trained_adapter: Path,
    embedder: SentenceTransformerEmbedder,
    tmp_path: Path,
) -> None:
    """34 real notes by one author (tests/fixtures/simonw_til): the check learns them
    against the sample posts and the base model's own answers, then scores the drafts."""
    notes = sorted(p for p in (FIXTURES / "simonw_til").glob("*.md") if p.name != "README.md")
    examples = [
        example(n, " ".join(p.read_text(encoding="utf-8").split()[:150]))
        for n, p in enumerate(notes[:34])
    ]
    folder = save_dataset(
        tmp_path / "datasets", examples[:30], examples[30:], DatasetStats()
    ).folder
    others = [
        Writing(p.read_text(encoding="utf-8").split("---", 2)[2], p.stem, "someone else")
        for p in sorted((ROOT / "sample").glob("*.md"))
    ]
    settings = replace(SETTINGS, eval_drafts=4, eval_samples=1)
    calls: list[tuple[str, int, int]] = []
    models = [
        ModelSpec("base", tiny_model_dir),
        ModelSpec("tuned", tiny_model_dir, trained_adapter),
    ]
    report = evaluate(models, folder, embedder, settings, lambda *c: calls.append(c), others)

    assert ("answers base", 10, 10) in calls and not any(c[0] == "answers tuned" for c in calls)
    assert report.voice["usable"] and report.voice["owner_documents"] == 30
    assert report.voice["texts"]["base model"] == 10 and report.voice["texts"]["someone else"] == 6
    assert report.owner_documents == 34
    assert report.owner["voice_share"] >= 0.75  # the author's held-out notes are theirs
    for name in ("base", "tuned"):
        values = report.metrics[name]
        assert values["voice_share_low"] <= values["voice_share"] <= values["voice_share_high"]
        assert len(report.items[name]["owner_probability"]) == 4
        assert len(report.items[name]["nll"]) == 4 and len(report.items[name]["words"]) == 4
    markdown = report.markdown()
    assert "## Voice\n\nvoice check: held-out accuracy " in markdown
    assert "| voice: share attributed to you (higher is better) | " in markdown
    decision = report.gate("tuned", "base", "auto", margin=0.01)
    assert decision.metric == "voice"  # auto: 34 documents of the owner's
    assert decision.notes == ["promote_metric auto: voice (34 of your documents; voice needs 20)"]


def test_beats_is_strict_and_knows_its_metrics() -> None:
    report = EvalReport(
        models=["a", "b", "c"],
        metrics={
            "a": {"perplexity": 10.0, "style_similarity": 0.5},
            "b": {"perplexity": 12.0, "style_similarity": 0.6},
            "c": {"perplexity": 10.0},  # no drafts were written
        },
        owner={},
        samples=[Sample("Write.", "Real.", {"a": "x", "b": "y", "c": "z"})],
    )
    assert report.beats("a", "b", "perplexity") and not report.beats("b", "a", "perplexity")
    assert report.beats("b", "a", "style") and not report.beats("a", "b", "style")
    assert not report.beats("a", "c", "perplexity") and not report.beats("c", "a", "perplexity")
    assert "| style similarity (higher is better) | 0.500 | 0.600 | – | – |" in report.table()
    with pytest.raises(ValueError, match="perplexity, style"):
        report.beats("a", "b", "bleu")
    with pytest.raises(ValueError, match="eval_drafts"):
        report.beats("c", "a", "style")
    with pytest.raises(ValueError, match="no model 'd'"):
        report.beats("d", "a", "perplexity")


# --- bad input --------------------------------------------------------------------------


def test_a_dataset_without_a_test_split_is_refused(
    tmp_path: Path, tiny_model_dir: Path, embedder: SentenceTransformerEmbedder
) -> None:
    models = [ModelSpec("base", tiny_model_dir)]
    folder = tmp_path / "dataset"
    folder.mkdir()
    (folder / "train.jsonl").write_text(json.dumps(example(1, TRAIN_ANSWERS[0]).to_json()) + "\n")
    with pytest.raises(InputError, match=r"no test\.jsonl") as missing:
        evaluate(models, folder, embedder, SETTINGS)
    assert missing.value.source == str(folder)
    (folder / "test.jsonl").write_text("\n")
    with pytest.raises(InputError, match="test split is empty"):
        evaluate(models, folder, embedder, SETTINGS)
    with pytest.raises(InputError, match="no such dataset folder"):
        evaluate(models, tmp_path / "nowhere", embedder, SETTINGS)
    (folder / "test.jsonl").write_text("{not json\n")
    with pytest.raises(InputError, match="line 1"):
        read_split(folder, "test")


def test_missing_model_folders_are_refused_before_any_work(
    tmp_path: Path,
    tiny_model_dir: Path,
    dataset_folder: Path,
    embedder: SentenceTransformerEmbedder,
) -> None:
    missing_base = ModelSpec("base", tmp_path / "no-model")
    with pytest.raises(ConfigError, match=r"no config\.json"):
        evaluate([missing_base], dataset_folder, embedder, SETTINGS)
    not_adapter = ModelSpec("tuned", tiny_model_dir, tmp_path)
    progress: list[tuple[str, int, int]] = []
    with pytest.raises(ConfigError, match=r"no adapter_config\.json"):
        evaluate(
            [ModelSpec("base", tiny_model_dir), not_adapter],
            dataset_folder,
            embedder,
            SETTINGS,
            lambda *call: progress.append(call),
        )
    assert progress == []  # the base was not scored first
    with pytest.raises(ConfigError, match="distinct"):
        evaluate([ModelSpec("m", tiny_model_dir)] * 2, dataset_folder, embedder, SETTINGS)
