"""The voice bench's measures (bench/voice_bench.py runs them): the drafts of each leg
scored for attribution to the owner, perplexity and style-profile distance, and the table.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.config import Config
    from training.attribution import Writing
    from training.dataset import Example
    from training.settings import TrainingSettings

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"
if not FIXTURES.is_dir():  # as tests/http_server.py finds them
    FIXTURES = Path(os.environ.get("TWIN_FIXTURES", "../shared/fixtures")).resolve()
LEGS = ("base", "base+examples", "tuned", "tuned+examples")
SEED = 0


@dataclass
class Leg:
    drafts: list[str] = field(default_factory=list)
    voice_examples: list[int] = field(default_factory=list)  # per draft
    seconds: float = 0.0


def others_writing() -> list[Writing]:
    """Real writing by other people: the sample/ posts and the fixture web pages."""
    import trafilatura

    from training.attribution import Writing

    found = []
    for post in sorted((ROOT / "sample").glob("*.md")):
        text = post.read_text(encoding="utf-8").split("---", 2)[2]  # after the front matter
        found.append(Writing(text, f"sample:{post.stem}", "someone else"))
    for page in sorted((FIXTURES / "pages").glob("*.html")):
        text = trafilatura.extract(page.read_text(encoding="utf-8", errors="replace")) or ""
        if text.strip():
            found.append(Writing(text, f"page:{page.stem}", "someone else"))
    return found


async def base_answers(
    config: Config, train: Sequence[Example], wanted: int, new_tokens: int
) -> list[Writing]:
    """The base model's greedy answers to the first `wanted` training instructions (one per
    document), asked bare as the preference builder asks: the classifier's closest
    "not the owner"."""
    from bot.twin import Twin
    from model.generator import GenerationParams, Message, TextDelta
    from training.attribution import Writing, instructions_to_answer

    twin = Twin(config, serve_active=False)
    params = GenerationParams(max_new_tokens=new_tokens, temperature=0.0)
    answers = []
    try:
        worker = await twin.model_worker()
        for example in instructions_to_answer(train, [], wanted):
            text = []
            async for event in worker.stream(
                "bench", [Message("user", example.instruction)], params
            ):
                if isinstance(event, TextDelta):
                    text.append(event.text)
            answers.append(Writing("".join(text).strip(), example.document_id, "base model"))
    finally:
        await twin.aclose()
    return answers


def held_out_examples(
    notes: Sequence[Path], base_dir: Path, settings: TrainingSettings
) -> list[Example]:
    """The held-out notes as (template instruction, note) examples, cut like the training
    set (training.dataset.build_examples with the bench's [training] settings)."""
    from transformers import AutoTokenizer

    from ingest.extractors.local import extract_file
    from training.dataset import build_examples

    tokenizer: Any = AutoTokenizer.from_pretrained(str(base_dir))

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    settings = replace(settings, test_fraction=0.0, min_documents=1)  # every note a test one
    documents = [extract_file(p) for p in notes]
    train, test, _ = asyncio.run(build_examples(documents, settings, ("*",), count))
    return [*train, *test]


def perplexities(
    config: Config, train: list[Example], held: list[Example], adapter: Path, base: Path
) -> dict[str, float]:
    """Perplexity of the held-out notes under the base and the tuned model (evaluate.py)."""
    from retrieval.embedder import SentenceTransformerEmbedder
    from training.dataset import DatasetStats, save_dataset
    from training.evaluate import ModelSpec, evaluate

    folder = save_dataset(config.home / "bench-heldout", train, held, DatasetStats()).folder
    embedder = SentenceTransformerEmbedder(config.embedding.model, device="cpu")
    settings = replace(config.training, eval_drafts=0, eval_samples=0)
    specs = [ModelSpec("base", base), ModelSpec("tuned", base, adapter)]
    report = evaluate(specs, folder, embedder, settings)
    return {name: report.metrics[name]["perplexity"] for name in ("base", "tuned")}


@dataclass(frozen=True)
class Scores:
    check: Any  # training.attribution.VoiceCheck
    probabilities: dict[str, list[float]]  # leg -> P(owner) per draft; "held-out notes" too
    perplexity: dict[str, float]  # leg -> perplexity of the held-out notes
    style: dict[str, float]  # leg -> profile distance to the owner's training notes
    held_out: list[str]  # the owner's held-out notes, whole


def attribution(
    train: list[Example], held: list[Example], others: list[Writing], legs: dict[str, Leg]
) -> tuple[Any, dict[str, list[float]]]:
    """The classifier's check, and P(owner) per draft per leg (and of the held-out notes)."""
    from training.attribution import judge_voice

    drafts = {name: leg.drafts for name, leg in legs.items()}
    voice = judge_voice(train, held, others, drafts, SEED)
    if not voice.check.usable:
        return voice.check, {}
    return voice.check, {**voice.drafts, "held-out notes": voice.held_out}


def style_distances(owner: list[str], held: list[str], legs: dict[str, Leg]) -> dict[str, float]:
    """The profile distance (model/style.py) of each leg's drafts, and of the held-out
    notes, to the profile of the owner's training notes."""
    from model.style import StyleProfile, profile_distance

    profile = StyleProfile.from_texts(owner)
    texts = {name: leg.drafts for name, leg in legs.items()}
    texts["held-out notes"] = held
    return {
        name: profile_distance(StyleProfile.from_texts(found), profile)
        for name, found in texts.items()
    }


def table(scores: Scores, legs: dict[str, Leg]) -> str:
    """The Markdown table: one row per leg, the owner's held-out notes as the reference."""
    lines = [
        "| leg | share attributed to the owner [95 % CI] | vs base (paired) | mean P(owner) "
        "| perplexity | style distance | words/text | with a code block "
        "| voice examples/draft |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in [*LEGS, "held-out notes"]:
        leg = legs.get(name)
        texts = leg.drafts if leg else scores.held_out
        shown = f"{sum(leg.voice_examples) / len(texts):.1f}" if leg and texts else ""
        ppl, dist = scores.perplexity.get(name), scores.style.get(name)
        words = sum(len(t.split()) for t in texts) / max(len(texts), 1)
        code = sum("```" in t for t in texts) / max(len(texts), 1)
        lines.append(
            f"| {name} | {_attributed(scores.probabilities, name)} | "
            f"{f'{ppl:.2f}' if ppl is not None else ''} | "
            f"{f'{dist:.3f}' if dist is not None else 'n/a'} | {words:.0f} | {code:.2f} | {shown} |"
        )
    return "\n".join(lines)


def _attributed(probabilities: dict[str, list[float]], name: str) -> str:
    """The share with its interval, its paired difference from base, and the mean P(owner)
    (three cells)."""
    from training import bootstrap
    from training.attribution import owner_share

    probs, base = probabilities.get(name, []), probabilities.get("base", [])
    if not probs:
        return "n/a | n/a | n/a"
    paired = "n/a"
    if base and name in LEGS and name != "base":
        hits, base_hits = ([float(p > 0.5) for p in ps] for ps in (probs, base))
        diff = bootstrap.paired(
            bootstrap.mean_of(hits), bootstrap.mean_of(base_hits), len(hits), SEED
        )
        paired = f"{diff.value:+.2f} [{diff.low:+.2f}, {diff.high:+.2f}]"
    return f"{owner_share(probs, SEED).text()} | {paired} | {sum(probs) / len(probs):.2f}"
