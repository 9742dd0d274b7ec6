"""`llm-twin dataset ...`: the training data built from your writing."""

from __future__ import annotations

import asyncio
import json

import click

from bot.cli_context import LazyTwin
from bot.datasets import build_dataset


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
    with lazy.twin() as twin:

        async def run() -> None:
            try:
                built = await build_dataset(twin, instructions=instructions)
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
