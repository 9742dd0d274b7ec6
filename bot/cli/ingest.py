"""`llm-twin ingest`, `recrawl` and `sources`: getting writing in and keeping it current.

Inputs are checked first (ingest/precheck.py): a bad link or path is refused before any
model or index is opened. The work goes to the running bot when `llm-twin serve` runs on
this home (the index's one writer, already warm), else runs here; either way each input's
line comes from the same `InputResult`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from bot.cli.context import LazyTwin
from core.wording import plural
from ingest.exports.export import EXPORT_KINDS

if TYPE_CHECKING:
    from bot.twin import Twin
    from ingest.pipeline import Ingestor
    from ingest.results import InputResult
    from ingest.warehouse.store import Source

    Report = Callable[[InputResult], None]
    Run = Callable[[Ingestor, Report], Awaitable[list[InputResult]]]

log = logging.getLogger(__name__)


@click.command()
@click.argument("inputs", nargs=-1, required=True, metavar="URL|PATH...")
@click.option(
    "--as",
    "kind",
    type=click.Choice(EXPORT_KINDS),
    help="The kind of platform export a .zip is (default: recognised by its layout).",
)
@click.option(
    "--site",
    metavar="URL",
    help="Substack export: your publication's address (https://you.substack.com), so"
    " posts get their real links and match what a feed crawl finds.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per input instead.")
@click.pass_obj
def ingest(
    lazy: LazyTwin, inputs: tuple[str, ...], kind: str | None, site: str | None, as_json: bool
) -> None:
    """Fetch, extract, store and index your writing: links (articles, feeds, Medium or
    Substack profiles, GitHub users and repos, your LinkedIn profile), local files and
    folders (.md, .txt, .html) and platform data exports (.zip from LinkedIn, Medium,
    Substack or X).

    An input ingested before is recrawled: only what changed is fetched and re-embedded.
    Prints one line per input and a summary; exits 1 if any input failed.
    """
    hints = {k: v for k, v in (("kind", kind), ("site", site)) if v}
    with lazy.twin() as twin:
        refused, accepted = _prechecked(twin, inputs, hints)

        async def run(ingestor: Ingestor, report: Report) -> list[InputResult]:
            return await ingestor.ingest(accepted, allow_paths=True, on_result=report, hints=hints)

        # Paths go to the bot as absolute paths: it does not share this working directory.
        body = {"inputs": [_absolute(i) for i in accepted], "hints": hints}
        work = (run, "/api/cli/ingest", body) if accepted else None
        _run(
            lazy,
            twin,
            work,
            total=len(inputs),
            as_json=as_json,
            noun="input",
            verb="ingested",
            refused=refused,
        )


@click.command()
@click.argument("only", nargs=-1, metavar="[SOURCE...]")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per source instead.")
@click.pass_obj
def recrawl(lazy: LazyTwin, only: tuple[str, ...], as_json: bool) -> None:
    """Crawl your sources again (all, or the SOURCEs named as `llm-twin sources` lists
    them), fetching only what changed: pages and feeds are asked "changed since?",
    known posts and unchanged GitHub files are not fetched, and only changed documents are
    re-embedded. Reports new, changed, unchanged and removed documents per source."""

    async def run(ingestor: Ingestor, report: Report) -> list[InputResult]:
        return await ingestor.recrawl(list(only), on_result=report)

    with lazy.twin() as twin:
        total = len(only) or len(twin.warehouse.list_sources())
        if total == 0:
            click.echo("no sources yet: add some with `llm-twin ingest URL|PATH`")
            return
        work = (run, "/api/cli/recrawl", {"only": list(only)})
        _run(lazy, twin, work, total=total, as_json=as_json, noun="source", verb="recrawled")


def _prechecked(
    twin: Twin, inputs: Sequence[str], hints: dict[str, str]
) -> tuple[list[InputResult], list[str]]:
    """The inputs refused before anything is opened (as results), and the rest."""
    from ingest.precheck import refusal
    from ingest.results import InputResult

    def stored(url: str) -> dict[str, Any]:
        source = twin.warehouse.get_source(url)
        return dict(source.state) if source is not None else {}

    config = twin.config
    refused: list[InputResult] = []
    accepted: list[str] = []
    for raw in inputs:
        why = refusal(raw, policy=config.ingest, exports=config.exports, hints=hints, stored=stored)
        if why is None:
            accepted.append(raw)
        else:
            refused.append(InputResult(input=raw.strip(), error=why))
    return refused, accepted


def _absolute(raw: str) -> str:
    from pathlib import Path

    from ingest.urls import looks_like_url

    return raw if looks_like_url(raw) else str(Path(raw.strip()).expanduser().resolve())


def _run(
    lazy: LazyTwin,
    twin: Twin,
    work: tuple[Run, str, dict[str, Any]] | None,
    *,
    total: int,
    as_json: bool,
    noun: str,
    verb: str,
    refused: Sequence[InputResult] = (),
) -> None:
    """Report each result as it comes (refusals first), then the summary; exit 1 when
    any input failed."""
    from ingest.results import summary

    results = list(refused)
    with _Progress(total, as_json) as report:
        for result in refused:
            report(result)
        if work is not None:
            results += _work(lazy, twin, work, report)
    if not as_json:
        click.echo(summary(results, noun, verb))
    if any(not r.ok for r in results):
        sys.exit(1)


def _work(
    lazy: LazyTwin, twin: Twin, work: tuple[Run, str, dict[str, Any]], report: Report
) -> list[InputResult]:
    """The running bot does the work when there is one; else this process."""
    from bot.cli.remote import BotUnavailable

    run, route, body = work
    bot = lazy.bot()
    if bot is not None:
        from bot.wire import result_from

        try:
            results = []
            for event in bot.stream(route, body):
                results.append(result_from(event["result"]))
                report(results[-1])
            return results
        except BotUnavailable as exc:
            log.info("working here: %s", exc)

    async def go() -> list[InputResult]:
        async with twin.ingestor() as ingestor:
            return await run(ingestor, report)

    return asyncio.run(go())


class _Progress:
    """A progress bar on a terminal's stderr, and each result's line on stdout."""

    def __init__(self, total: int, as_json: bool) -> None:
        self.total, self.as_json = total, as_json
        self.bar: Any = None

    def __enter__(self) -> Report:
        if not self.as_json and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, unit="input", file=sys.stderr, leave=False)
        return self.report

    def __exit__(self, *exc_info: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def report(self, result: InputResult) -> None:
        lines = [json.dumps(_result_json(result))] if self.as_json else [result.line()]
        lines += [] if self.as_json else [f"  note: {note}" for note in result.notes]
        for line in lines:
            if self.bar is not None:
                self.bar.write(line, file=sys.stdout)
            else:
                click.echo(line)
        if self.bar is not None:
            self.bar.update(1)


def _result_json(result: InputResult) -> dict[str, Any]:
    return {
        "input": result.input,
        "ok": result.ok,
        "new": result.new,
        "changed": result.changed,
        "unchanged": result.unchanged,
        "removed": result.removed,
        "not_modified": result.not_modified,
        "chunks": result.chunks,
        "error": result.error,
        "notes": result.notes,
    }


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def sources(lazy: LazyTwin, as_json: bool) -> None:
    """List the sources you have ingested, with whose writing they are, document counts
    and crawl status."""
    with lazy.twin() as twin:
        rows = twin.warehouse.list_sources()
        if as_json:
            click.echo(json.dumps([_source_json(s) for s in rows], indent=2))
            return
        if not rows:
            click.echo("no sources yet: add some with `llm-twin ingest URL|PATH`")
            return
        for s in rows:
            crawled = s.last_crawl_at.strftime("%Y-%m-%d %H:%M") if s.last_crawl_at else "never"
            owner = f" by {s.owner}," if s.owner else ""
            error = f"  last error: {s.last_error}" if s.last_error else ""
            click.echo(
                f"{s.url}  [{s.platform}]{owner} {plural(s.documents, 'document')}, {s.status},"
                f" crawled {crawled}{error}"
            )


def _source_json(source: Source) -> dict[str, Any]:
    return {
        "url": source.url,
        "platform": source.platform,
        "owner": source.owner,
        "documents": source.documents,
        "status": source.status,
        "added_at": source.added_at.isoformat(),
        "last_crawl_at": source.last_crawl_at.isoformat() if source.last_crawl_at else None,
        "last_error": source.last_error,
    }
