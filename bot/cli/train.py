"""`llm-twin dataset build`, `train`, `eval`, `quantize` and `models`: from your writing
to a fine-tuned twin. Each runs in its own process, so a serving bot is never starved."""

from __future__ import annotations

import asyncio
import json
import shlex
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from bot.cli.context import LazyTwin, user_errors
from core.errors import InputError

if TYPE_CHECKING:
    from bot.twin import Twin
    from training.lora import Progress
    from training.registry import Run


@click.group()
def dataset() -> None:
    """The instruction dataset the twin is fine-tuned on."""


@dataset.command("build")
@click.option(
    "--instructions",
    type=click.Choice(["template", "model"]),
    help="Who writes each example's instruction (default training.instructions).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the stats as JSON.")
@click.pass_obj
def build(lazy: LazyTwin, instructions: str | None, as_json: bool) -> None:
    """Turn your stored documents (those by owner.names) into (instruction, answer)
    pairs whose answers are your own text, split into train and test by document, and
    save them as JSONL with a stats file under $TWIN_HOME/datasets."""
    from training.dataset_build import build_dataset

    with lazy.twin() as twin:

        async def run() -> None:
            try:
                built = await build_dataset(twin.training_context(), instructions=instructions)
            finally:
                await twin.aclose()
            stats = built.stats
            if as_json:
                click.echo(json.dumps({"folder": str(built.folder), **stats.to_json()}, indent=2))
                return
            click.echo(
                f"{stats.train_examples} train and {stats.test_examples} test examples from "
                f"{stats.documents_used} of {stats.documents_seen} documents "
                f"({stats.train_documents} train, {stats.test_documents} test)"
            )
            if stats.excluded:
                click.echo(
                    "excluded: " + ", ".join(f"{n} {why}" for why, n in stats.excluded.items())
                )
            for platform, counts in sorted(stats.per_platform.items()):
                click.echo(f"  {platform}: {counts['train']} train, {counts['test']} test")
            tokens = stats.answer_tokens
            click.echo(
                f"answer tokens: min {tokens['min']:.0f}, median {tokens['median']:.0f}, "
                f"max {tokens['max']:.0f}"
            )
            click.echo(f"saved to {built.folder}")

        asyncio.run(run())


def _reporters(as_events: bool) -> tuple[Callable[[str], None], Callable[[Progress], None]]:
    """Lines for a person, or one JSON object per line for a parent process (`--events`)."""
    from training.events import TrainingMessage, event_line

    if as_events:

        def say(text: str) -> None:
            click.echo(event_line(TrainingMessage(text)))

        def step(progress: Progress) -> None:
            click.echo(event_line(progress))

        return say, step

    def show(progress: Progress) -> None:
        click.echo(progress.line() + f", {progress.tokens_per_s:.0f} tokens/s", err=True)

    return click.echo, show


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the run is marked failed (and resumable)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.command("train")
@click.option(
    "--max-steps",
    type=click.IntRange(min=1),
    help="Stop after this many optimizer steps (default: training.epochs).",
)
@click.option("--dpo", is_flag=True, help="Then DPO on preference pairs from your feedback.")
@click.option("--resume", metavar="RUN", help="Take a failed or interrupted run back up.")
@click.option("--no-eval", is_flag=True, help="Skip evaluation (and so promotion).")
@click.option("--no-promote", is_flag=True, help="Evaluate, but never activate the new model.")
@click.option("--events", is_flag=True, help="Progress as JSON lines (for the bot).")
@click.pass_obj
def train(
    lazy: LazyTwin,
    max_steps: int | None,
    dpo: bool,
    resume: str | None,
    no_eval: bool,
    no_promote: bool,
    events: bool,
) -> None:
    """Fine-tune the twin on your writing: build the dataset, train a LoRA adapter on the
    base model (training.*), optionally DPO, evaluate it against the base and the active
    model on held-out writing, and activate it if it wins. Every run is recorded:
    `llm-twin models list`. Interrupted runs resume with --resume RUN."""
    from training.lora import quiet_libraries
    from training.run import TrainOptions
    from training.run import train as train_run

    quiet_libraries()
    say, step = _reporters(events)
    options = TrainOptions(max_steps, dpo, resume, not no_eval, not no_promote)
    with lazy.twin(serve_active=False) as twin, _terminate_as_interrupt():
        try:
            run = train_run(twin.training_context(), options, say, step)
        except KeyboardInterrupt:
            say("interrupted: the run is marked failed; --resume takes it back up")
            sys.exit(130)
        say(f"run {run.id}: {run.status}; adapter {run.paths.get('adapter')}")


@click.command("eval")
@click.argument("run_id", metavar="[RUN]", required=False)
@click.option("--no-promote", is_flag=True, help="Report only; never activate.")
@click.pass_obj
def eval_command(lazy: LazyTwin, run_id: str | None, no_promote: bool) -> None:
    """Score RUN (default: the latest trained run) against the base and the active model
    on the held-out split: perplexity of your real writing, style similarity and
    stylometry of drafts, side-by-side samples. Activates RUN if it wins on
    training.promote_metric. The table is saved in the run's eval/ folder."""
    from training.lora import quiet_libraries
    from training.run import evaluate_run

    quiet_libraries()
    with lazy.twin(serve_active=False) as twin:
        run = _pick_run(twin, run_id)
        evaluate_run(twin.training_context(), run.id, click.echo, promote=not no_promote)


@click.command("quantize")
@click.argument("run_id", metavar="[RUN]", required=False)
@click.option("--bits", type=click.FloatRange(2.0, 8.0), help="Default training.quantize_bits.")
@click.pass_obj
def quantize(lazy: LazyTwin, run_id: str | None, bits: float | None) -> None:
    """Merge RUN's adapter (default: the active run, else the latest trained) into its
    base as a plain HF folder, then quantize it to EXL2 for the exl2 backend (CUDA only;
    without CUDA this says so and the merged folder serves with the hf backend)."""
    from training.lora import quiet_libraries
    from training.quantize_run import quantize_run

    quiet_libraries()
    with lazy.twin(serve_active=False) as twin:
        run = _pick_run(twin, run_id, prefer_active=True)
        quantize_run(twin.training_context(), run, click.echo, bits)


@click.group("models", invoke_without_command=True)
@click.pass_context
def models(ctx: click.Context) -> None:
    """Training runs, the model the bot drafts with, and models pulled from the hub
    (alone: `models list`)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(models_list)


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def models_list(lazy: LazyTwin, as_json: bool) -> None:
    """Every training run, newest first; * marks the active one."""
    from model.naming import configured_model

    with lazy.twin() as twin:
        runs = twin.models.runs()
        active = twin.models.active()
        base = configured_model(twin.config.model)
    if as_json:
        click.echo(
            json.dumps(
                [{**r.to_json(), "active": r.id == (active and active.id)} for r in runs], indent=2
            )
        )
        return
    click.echo(f"{'*' if active is None else ' '} base: {base}")
    for r in runs:
        mark = "*" if active is not None and r.id == active.id else " "
        metrics = r.metrics.get("eval", {}).get(r.id, {})
        ppl = f"perplexity {metrics['perplexity']:.2f}" if "perplexity" in metrics else ""
        extra = f"  {r.error}" if r.status == "failed" and r.error else ""
        click.echo(f"{mark} {r.id}  {r.status:<8} {r.stage:<5} {ppl}{extra}")


@models.command("activate")
@click.argument("run_id", metavar="RUN")
@click.pass_obj
def models_activate(lazy: LazyTwin, run_id: str) -> None:
    """Draft with RUN from now on ("base": the configured model). A running bot swaps it
    in within model.reload_interval seconds; drafts in flight finish on the old one."""
    with lazy.twin() as twin:
        run = twin.models.activate(None if run_id == "base" else run_id)
    click.echo(f"active: {run.id if run else 'base'}")


@models.command("pull")
@click.argument("repo")
@click.option("--file", "file_name", metavar="NAME", help="One file of REPO, e.g. a .gguf.")
@click.option("--revision", metavar="REV", help="A branch, tag or commit (default: main).")
def models_pull(repo: str, file_name: str | None, revision: str | None) -> None:
    """Download REPO (OWNER/NAME) from the Hugging Face hub into the local HF cache: the
    file NAME with --file (a GGUF), else the model folder. Shows progress, resumes an
    interrupted download, checks every file against the hub's checksum, and prints the
    model.path to set. HF_ENDPOINT, HF_TOKEN and HF_HOME are honoured. The only command
    that downloads a model: drafting, training and serving never do."""
    from model import hub

    with user_errors():
        try:
            pulled = hub.pull(repo, file=file_name, revision=revision)
        except KeyboardInterrupt:
            click.echo("interrupted: what was downloaded is kept; run it again to resume", err=True)
            sys.exit(130)
    fetched = f"{_size(pulled.downloaded)} downloaded" if pulled.downloaded else "already here"
    checks = sorted({f.check for f in pulled.files} - {"cached"})
    checked = f", {'/'.join(checks)} checked" if checks else ""
    what = f"{repo} {pulled.file}" if pulled.file else f"{repo} ({len(pulled.files)} files)"
    click.echo(f"pulled {what}: {_size(pulled.size)}, {fetched}{checked}")
    click.echo(f"  in {pulled.files[0].path if pulled.file else pulled.folder}")
    settings = pulled.settings()
    flags = " ".join(f"--set {shlex.quote(f'{k}={v}')}" for k, v in settings.items())
    click.echo(f"draft with it: llm-twin {flags} draft ...")
    click.echo("or in config.toml:\n  [model]")
    for key, value in settings.items():
        click.echo(f"  {key.removeprefix('model.')} = {json.dumps(value)}")


@models.command("available")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def models_available(lazy: LazyTwin, as_json: bool) -> None:
    """The models on disk: in the HF cache (what `models pull` fetched), GGUF files in the
    models folder (model.cache_dir, else $TWIN_HOME/models) and the bundled default, with
    sizes; * marks the one [model] names now."""
    from model import hub

    with user_errors():
        config = lazy.config()
        found = hub.available(config.model, config.model_cache_dir)
    if as_json:
        click.echo(json.dumps([m.to_json() for m in found], indent=2))
        return
    for m in found:
        mark = "*" if m.configured else " "
        click.echo(f"{mark} {m.name}  {_size(m.size)}  ({m.where})")
        if m.setting:
            click.echo(f"    model.path = {json.dumps(m.setting)}")
    if config.model.path and not any(m.configured for m in found):
        click.echo(f"configured: model.path = {json.dumps(config.model.path)} (not on this list)")


def _size(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def _pick_run(twin: Twin, run_id: str | None, *, prefer_active: bool = False) -> Run:
    if run_id:
        return twin.models.require(run_id)
    run = (twin.models.active() if prefer_active else None) or twin.models.latest()
    if run is None:
        raise InputError("RUN", "there is no trained run yet; `llm-twin train` makes one")
    return run
