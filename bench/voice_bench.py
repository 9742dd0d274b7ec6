"""Voice: base vs base+examples vs tuned vs tuned+examples, with one real author as the owner.

The owner's writing is Simon Willison's TIL notes (`../shared/corpora/simonw-til`, 232
Markdown notes, Apache-2.0). Every `--every`-th note in name order (20 % at 5) is held
out; the rest are copied into a folder and ingested into a temp TWIN_HOME with the CLI
(`llm-twin ingest FOLDER`, owner.names ["*"]: everything ingested is the owner's). One LoRA
SFT run on it with the CLI (`llm-twin train --max-steps N --no-eval`: the product's dataset
builder, template instructions, TRL on CPU), then `models activate` it.

Legs, the same `--prompts` requests in each ('Write a TIL note titled "<title>".' for
held-out notes spread evenly over the held-out set), format "answer", greedy
(drafting.temperature 0), drafting.max_new_tokens `--new-tokens`, through the product's
`DraftWriter` on the llamacpp backend (the run's adapter exported as a GGUF LoRA by
activation, as the bot serves it):
- base: drafting.voice_examples = 0 (retrieved material only), the bundled model;
- base+examples: drafting.voice_examples = 3 (the product default);
- tuned, tuned+examples: the same two, on the activated run.

Measures, in one run:
- attribution (training/attribution.py, `judge_voice`): a classifier trained on the
  training notes (the run's dataset) against "not the owner": the base model's greedy
  answers to training instructions (bare, as the preference builder asks) and other
  people's writing (sample/ posts, shared/fixtures/pages); its held-out accuracy first;
  then per leg the share of drafts it attributes to the owner with a bootstrap interval,
  the mean P(owner), and the paired difference of each leg's share from base. The owner's
  real held-out notes are scored too, as the ceiling;
- perplexity of the held-out notes (each under its template instruction) under the base
  and the tuned model (training/evaluate.py, hf float32 on the dequantized GGUF):
  examples are prompt-only, so a model's two legs share one figure;
- style-profile distance (model/style.py) between the drafts' profile and the profile of
  the training notes; the held-out notes' distance is the floor.

    nice -n 10 python bench/voice_bench.py [--quick] [--steps 80] [--prompts 16]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.voice_scores import Leg, Scores
    from bot.config import Config
    from training.dataset import Example

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpora" / "simonw-til"
OWNER = "Simon Willison"
SEED = 0


@dataclass(frozen=True)
class Split:
    train: list[Path]
    held_out: list[Path]


def corpus_notes(folder: Path) -> list[Path]:
    """The corpus's notes in name order (README/LICENSE left out)."""
    notes = sorted(p for p in folder.glob("*.md") if p.name != "README.md")
    if not notes:
        raise SystemExit(f"{folder}: no .md notes; pass --corpus ../shared/corpora/simonw-til")
    return notes


def split_notes(notes: Sequence[Path], every: int = 5) -> Split:
    """Every `every`-th note in name order held out (the 3rd, 8th, …: spread over the
    topic folders the names start with), the rest for training."""
    ordered = sorted(notes, key=lambda p: p.name)
    held = [p for n, p in enumerate(ordered) if n % every == every // 2]
    return Split([p for p in ordered if p not in held], held)


def spread(items: Sequence[Path], count: int) -> list[Path]:
    """`count` items evenly spaced over `items` (all of them when there are fewer)."""
    if count >= len(items):
        return list(items)
    return [items[(n * len(items)) // count] for n in range(count)]


def prompt_for(title: str) -> str:
    return f'Write a TIL note titled "{" ".join(title.split())}".'


def config_text(args: argparse.Namespace) -> str:
    """The bench's config.toml: the product's defaults except what is named here."""
    cache = f'cache_dir = "{args.cache}"\n' if args.cache else ""
    return f"""[owner]
name = "{OWNER}"
names = ["*"]

[model]
backend = "llamacpp"
seed = {SEED}
reload_interval = 0
{cache}
[drafting]
format = "answer"
max_new_tokens = {args.new_tokens}
temperature = 0.0

[training]
test_fraction = 0.05
max_answer_tokens = 256
max_seq_len = 320
batch_size = 2
grad_accum = 1
learning_rate = {args.learning_rate}
gradient_checkpointing = false
save_steps = 100000
threads = {args.threads}
seed = {SEED}
device = "cpu"
"""


def cli(config_file: Path, home: Path, *command: str) -> str:
    """`llm-twin --home HOME --config FILE COMMAND…`, with no TWIN_* of ours leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")}
    argv = [sys.executable, "-m", "bot", "--home", str(home), "--config", str(config_file)]
    done = subprocess.run(
        [*argv, *command], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"llm-twin {' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


async def write_drafts(config: Config, prompts: Sequence[str], serving: str | None) -> Leg:
    """One leg: each prompt through the product's DraftWriter, greedy; `serving` is the run
    the twin must be serving (None: the base), so a silent fallback cannot pass."""
    from bench.voice_scores import Leg
    from bot.twin import Twin
    from model.draft import DraftDone, DraftRequest

    twin = Twin(config, serve_active=serving is not None)
    leg = Leg()
    started = time.perf_counter()
    try:
        async with twin.draft_writer() as writer:
            if twin.serving_run != serving:
                raise SystemExit(f"the twin serves {twin.serving_run}, not {serving}")
            for prompt in prompts:
                async for event in writer.write(DraftRequest(prompt, "answer")):
                    if isinstance(event, DraftDone):
                        record = event.draft
                        leg.drafts.append(record.output)
                        leg.voice_examples.append(
                            sum(1 for s in record.sources if s.role == "voice")
                        )
    finally:
        await twin.aclose()
    leg.seconds = time.perf_counter() - started
    return leg


def prepare(args: argparse.Namespace, split: Split, work: Path) -> tuple[Path, Path]:
    """(home, config file): the training notes copied into a folder of their own, the
    bench's config.toml written."""
    folder = work / "notes"
    folder.mkdir(parents=True)
    for note in split.train:
        shutil.copy2(note, folder / note.name)
    config_file = work / "config.toml"
    config_file.write_text(config_text(args), encoding="utf-8")
    return work / "home", config_file


async def all_legs(
    config: Config, prompts: list[str], run_id: str, activate: Any
) -> dict[str, Leg]:
    """The four legs in order: base and base+examples on the base model, then (after
    `activate()`) tuned and tuned+examples on the run."""
    bare = replace(config, drafting=replace(config.drafting, voice_examples=0))
    legs = {
        "base": await write_drafts(bare, prompts, None),
        "base+examples": await write_drafts(config, prompts, None),
    }
    await asyncio.to_thread(activate)
    legs["tuned"] = await write_drafts(bare, prompts, run_id)
    legs["tuned+examples"] = await write_drafts(config, prompts, run_id)
    return legs


@dataclass(frozen=True)
class Trained:
    config: Config
    config_file: Path
    run: Any  # training.registry.Run
    train: list[Example]  # the run's dataset: every example of the training notes


def train_twin(args: argparse.Namespace, split: Split, work: Path, timed: Timer) -> Trained:
    """The training notes ingested and a LoRA SFT run trained on them, with the CLI."""
    from bot.config import load_config
    from bot.twin import Twin
    from training.dataset import read_split

    home, config_file = prepare(args, split, work)
    with timed("ingest"):
        print(cli(config_file, home, "ingest", str(work / "notes")).strip().splitlines()[-1])
    with timed("train"):
        print(cli(config_file, home, "train", "--max-steps", str(args.steps), "--no-eval").strip())
    config = load_config(env={}, home=home, config_file=config_file)
    twin = Twin(config, serve_active=False)
    latest = twin.models.latest()
    twin.close()
    if latest is None:
        raise SystemExit("the training run did not finish")
    dataset = Path(latest.dataset_folder)
    train = [*read_split(dataset, "train"), *read_split(dataset, "test")]
    return Trained(config, config_file, latest, train)


def measure(args: argparse.Namespace, work: Path, timed: Timer) -> tuple[Scores, dict[str, Leg]]:
    """Everything in order: train, draft the four legs, then score them."""
    from bench.voice_scores import (
        LEGS,
        Scores,
        attribution,
        base_answers,
        held_out_examples,
        others_writing,
        perplexities,
        style_distances,
    )
    from ingest.extractors.local import extract_file

    split = split_notes(corpus_notes(args.corpus)[:: args.thin], args.every)
    prompts = [prompt_for(extract_file(p).title) for p in spread(split.held_out, args.prompts)]
    print(f"{len(split.train)} training notes, {len(split.held_out)} held out; prompts:")
    print("\n".join(f"  {p}" for p in prompts), flush=True)
    t = train_twin(args, split, work, timed)
    base_dir, run_id = Path(t.run.base_model), t.run.id
    held = held_out_examples(split.held_out, base_dir, t.config.training)
    with timed("base answers"):
        answers = asyncio.run(base_answers(t.config, t.train, args.answers, args.new_tokens))
    with timed("drafts"):
        activate = functools.partial(
            cli, t.config_file, t.config.home, "models", "activate", run_id
        )
        legs = asyncio.run(all_legs(t.config, prompts, run_id, activate))
    with timed("attribution"):
        check, probabilities = attribution(t.train, held, [*answers, *others_writing()], legs)
    with timed("perplexity"):
        adapter = Path(t.run.paths["adapter"])
        by_model = perplexities(t.config, t.train, held, adapter, base_dir)
    ppl = {name: by_model["tuned" if name.startswith("tuned") else "base"] for name in LEGS}
    with timed("style"):
        owner = [extract_file(p).text for p in split.train]
        notes = [extract_file(p).text for p in split.held_out]
        style = style_distances(owner, notes, legs)
    return Scores(check, probabilities, ppl, style, notes), legs


class Timer:
    """`with timed("stage"):` records and prints how long the stage took."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.seconds[stage] = time.perf_counter() - started
        # Other jobs on the machine stretch every stage: the load says how much.
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"{stage}: {self.seconds[stage]:.0f} s (load average {load})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="A smoke test: a few of everything.")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--every", type=int, default=5, help="Hold out every N-th note.")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--steps", type=int, default=80, help="SFT optimizer steps.")
    parser.add_argument("--new-tokens", type=int, default=160)
    parser.add_argument("--answers", type=int, default=24, help="Base answers as negatives.")
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--threads", type=int, default=2, help="torch threads for training.")
    parser.add_argument("--cache", type=Path, help="Model cache (the dequantized GGUF).")
    parser.add_argument("--keep", action="store_true", help="Keep the temp TWIN_HOME.")
    args = parser.parse_args()
    args.thin = 1
    if args.quick:
        args.thin, args.prompts, args.steps, args.new_tokens, args.answers = 4, 3, 3, 48, 10
    sys.path.insert(0, str(ROOT))
    from bench.voice_scores import table

    work = Path(tempfile.mkdtemp(prefix="voice-bench-"))
    timed = Timer()
    started = time.perf_counter()
    try:
        scores, legs = measure(args, work, timed)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    times = {**timed.seconds, "total": time.perf_counter() - started}
    print(f"\n{scores.check.line()}\n")
    print(table(scores, legs))
    print("\ntimes: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
    for name, leg in legs.items():
        print(f"\n--- {name}, first draft ---\n{leg.drafts[0] if leg.drafts else ''}")


if __name__ == "__main__":
    main()
