"""`llm-twin draft`: stream a draft in the owner's voice to the terminal."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from bot.cli.context import LazyTwin, user_errors
from model.prompts import FORMATS

if TYPE_CHECKING:
    from bot.cli.remote import BotClient
    from bot.twin import Twin
    from model.draft import DraftDone, DraftEvent, DraftRequest

log = logging.getLogger(__name__)


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
    what was cut) go to stderr. Drafted by the running bot when `llm-twin serve` runs on
    this home (its model is loaded already; see --local)."""
    from model.draft import DraftRequest, validate

    if prompt == "-":
        prompt = sys.stdin.read()
    with user_errors():
        default = lazy.config().drafting.format
        request = DraftRequest(prompt=prompt, format=fmt or default, links=links, user="cli")
        validate(request)  # an empty prompt is refused before a model loads
    try:
        done = _draft(lazy, request, as_json)
    except KeyboardInterrupt:
        click.echo("\ncancelled (the partial draft was saved)", err=True)
        sys.exit(130)
    if as_json:
        click.echo(json.dumps(_draft_json(done), indent=2, ensure_ascii=False))


def _draft(lazy: LazyTwin, request: DraftRequest, as_json: bool) -> DraftDone:
    """The draft, shown as it comes: from the running bot when there is one, else here."""
    from bot.cli.remote import BotUnavailable

    with user_errors():
        bot = lazy.bot()
        if bot is not None:
            try:
                return _Shown(as_json).all(_from_bot(bot, request))
            except BotUnavailable as exc:
                log.info("drafting here: %s", exc)
    with lazy.twin() as twin:
        return asyncio.run(_run(twin, request, as_json))


def _from_bot(bot: BotClient, request: DraftRequest) -> Iterator[DraftEvent]:
    from bot.wire import draft_event_from

    body = {
        "prompt": request.prompt,
        "format": request.format,
        "links": list(request.links),
        "user": request.user,
    }
    for data in bot.stream("/api/cli/draft", body):
        yield draft_event_from(data)


def _streams_live() -> bool:
    """Whether stdout is a terminal, where the draft streams as it is written."""
    return sys.stdout.isatty()


async def _run(twin: Twin, request: DraftRequest, as_json: bool) -> DraftDone:
    try:
        if not as_json and sys.stderr.isatty():
            click.echo("loading the model…", err=True)
        async with twin.draft_writer() as writer:
            shown = _Shown(as_json)
            async for event in writer.write(request):
                shown.event(event)
            return shown.done()
    finally:
        await twin.aclose()


class _Shown:
    """The draft's events on the terminal, the same whichever process wrote it: notes
    first, the text as it streams (when stdout is a terminal), then the final text and
    the footer."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.live = not as_json and _streams_live()
        self.streamed: list[str] = []
        self.notes: tuple[str, ...] = ()
        self.finished: DraftDone | None = None

    def event(self, event: DraftEvent) -> None:
        from model.draft import DraftDone, Prepared

        if isinstance(event, Prepared):
            self.notes = event.notes
            for note in event.notes:
                click.echo(f"note: {note}", err=True)
        elif isinstance(event, DraftDone):
            self.finished = event
        else:
            self.streamed.append(event.text)
            if self.live:
                click.echo(event.text, nl=False)

    def all(self, events: Iterator[DraftEvent]) -> DraftDone:
        for event in events:
            self.event(event)
        return self.done()

    def done(self) -> DraftDone:
        done = self.finished
        assert done is not None  # the writer always ends with DraftDone
        if not self.as_json:
            _print_final(done, "".join(self.streamed) if self.live else None)
            _print_footer(done, self.notes)
        return done


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
    from model.naming import describe_model
    from model.records import sources_by_role

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
    from model.naming import model_json

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
