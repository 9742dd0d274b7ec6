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
from model.naming import describe_model, model_json
from model.prompts import FORMATS
from model.records import sources_by_role


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
    help="Print one JSON object {id, text, format, sources (url, title, role: material or "
    "voice), notes, model, finish_reason, "
    "timings} at the end instead of streaming.",
)
@click.pass_obj
def draft(
    lazy: LazyTwin, prompt: str, fmt: str | None, links: tuple[str, ...], as_json: bool
) -> None:
    """Draft PROMPT in your voice, grounded in your own writing (use - to read the prompt
    from stdin). Text streams to the terminal; when the finished draft is shaped for its
    platform (a thread numbered, a post cut to length, the model's "Sure! Here's…" dropped)
    the final text follows under a line. Piped, stdout gets the final text only. The
    sources it drew on follow, and notes (links that could not be read, material left out,
    what was cut) go to stderr."""
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


def _streams_live() -> bool:
    """Whether stdout is a terminal, where the draft streams as it is written."""
    return sys.stdout.isatty()


async def _run(twin: Twin, request: DraftRequest, as_json: bool) -> DraftDone:
    try:
        if not as_json and sys.stderr.isatty():
            click.echo("loading the model…", err=True)
        live = not as_json and _streams_live()
        async with twin.draft_writer() as writer:
            done: DraftDone | None = None
            streamed: list[str] = []
            notes: tuple[str, ...] = ()
            async for event in writer.write(request):
                if isinstance(event, Prepared):
                    notes = event.notes
                    for note in event.notes:
                        click.echo(f"note: {note}", err=True)
                elif isinstance(event, TextDelta):
                    streamed.append(event.text)
                    if live:
                        click.echo(event.text, nl=False)
                elif isinstance(event, DraftDone):
                    done = event
            assert done is not None
            if not as_json:
                _print_final(done, "".join(streamed) if live else None)
                _print_footer(done, notes)
            return done
    finally:
        await twin.aclose()


def _print_final(done: DraftDone, streamed: str | None) -> None:
    """The stored (shaped) draft: after what streamed, under a line, only when shaping
    changed it; all of it when nothing streamed (stdout is not a terminal)."""
    text = done.draft.output
    if streamed is None:
        click.echo(text, nl=False)
    elif text != streamed.strip():
        click.echo(f"\n\n── final draft, shaped for {done.draft.format} ──\n")
        click.echo(text, nl=False)


def _print_footer(done: DraftDone, shown: tuple[str, ...]) -> None:
    """Sources, then on stderr the notes not shown before the text, and the stats line."""
    record, finished = done.draft, done.finished
    click.echo()
    for heading, sources in sources_by_role(record.sources):
        click.echo(f"\n{heading}:")
        for source in sources:
            click.echo(f"  - {source.title} <{source.url}>")
    for note in record.notes:
        if note not in shown:
            click.echo(f"note: {note}", err=True)
    click.echo(
        f"draft {record.id}: {finished.completion_tokens} tokens, "
        f"{finished.tokens_per_second:.1f} tokens/s, first token after "
        f"{finished.time_to_first_token:.2f} s\n"
        f"model: {describe_model(record.model_id, record.backend, record.model_version)}",
        err=True,
    )


def _draft_json(done: DraftDone) -> dict[str, Any]:
    record = done.draft
    return {
        "id": record.id,
        "text": record.output,
        "format": record.format,
        "sources": [{"url": s.url, "title": s.title, "role": s.role} for s in record.sources],
        "notes": list(record.notes),
        "model": {
            "name": model_json(record.model_id, record.backend, record.model_version)["name"],
            "backend": record.backend,
            "id": record.model_id,
            "version": record.model_version,
        },
        "finish_reason": record.finish_reason,
        "timings": record.timings,
    }
