"""`llm-twin draft`: stream a draft in the owner's voice to the terminal."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import click

from bot.cli.context import LazyTwin
from bot.twin import Twin
from model.draft import DraftDone, DraftRequest, Prepared
from model.generator import TextDelta
from model.prompts import FORMATS


@click.command()
@click.argument("prompt")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="linkedin (a post), thread (an X thread), article (an outline) or answer. "
    "Default: drafting.format.",
)
@click.option(
    "--link",
    "links",
    multiple=True,
    metavar="URL",
    help="A page to use as extra material (fetched now); repeatable. Links inside the "
    "prompt count too.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object {id, text, format, sources, notes, model, finish_reason, "
    "timings} at the end instead of streaming.",
)
@click.pass_obj
def draft(
    lazy: LazyTwin, prompt: str, fmt: str | None, links: tuple[str, ...], as_json: bool
) -> None:
    """Draft PROMPT in your voice, grounded in your own writing (use - to read the prompt
    from stdin). Text streams to stdout; the sources it drew on follow, and notes (links
    that could not be read, material left out) go to stderr."""
    if prompt == "-":
        prompt = sys.stdin.read()
    with lazy.twin() as twin:
        request = DraftRequest(
            prompt=prompt, format=fmt or twin.config.drafting.format, links=links, user="cli"
        )
        try:
            done = asyncio.run(_run(twin, request, as_json))
        except KeyboardInterrupt:
            click.echo("\ncancelled (the partial draft was saved)", err=True)
            sys.exit(130)
        if as_json:
            click.echo(json.dumps(_draft_json(done), indent=2, ensure_ascii=False))


async def _run(twin: Twin, request: DraftRequest, as_json: bool) -> DraftDone:
    try:
        if not as_json and sys.stderr.isatty():
            click.echo("loading the model…", err=True)
        async with twin.draft_writer() as writer:
            done: DraftDone | None = None
            async for event in writer.write(request):
                if isinstance(event, Prepared):
                    for note in event.notes:
                        click.echo(f"note: {note}", err=True)
                elif isinstance(event, TextDelta):
                    if not as_json:
                        click.echo(event.text, nl=False)
                elif isinstance(event, DraftDone):
                    done = event
            assert done is not None
            if not as_json:
                _print_footer(done)
            return done
    finally:
        await twin.aclose()


def _print_footer(done: DraftDone) -> None:
    record, finished = done.draft, done.finished
    click.echo()
    if record.sources:
        click.echo("\nSources:")
        for source in record.sources:
            click.echo(f"  - {source.title} <{source.url}>")
    if finished.finish_reason == "length":
        click.echo("note: the draft hit drafting.max_new_tokens and may be cut short", err=True)
    elif finished.finish_reason == "timeout":
        click.echo("note: the draft hit model.timeout and was cut short", err=True)
    click.echo(
        f"draft {record.id}: {finished.completion_tokens} tokens, "
        f"{finished.tokens_per_second:.1f} tokens/s, first token after "
        f"{finished.time_to_first_token:.2f} s ({record.model_id})",
        err=True,
    )


def _draft_json(done: DraftDone) -> dict[str, Any]:
    record = done.draft
    return {
        "id": record.id,
        "text": record.output,
        "format": record.format,
        "sources": [{"url": s.url, "title": s.title} for s in record.sources],
        "notes": list(record.notes),
        "model": {
            "backend": record.backend,
            "id": record.model_id,
            "version": record.model_version,
        },
        "finish_reason": record.finish_reason,
        "timings": record.timings,
    }
