"""`llm-twin ingest`, `recrawl` and `sources`: getting writing in and keeping it current."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import click
from tqdm import tqdm

from bot.cli.context import LazyTwin
from bot.twin import Twin
from core.wording import plural
from ingest.exports import EXPORT_KINDS
from ingest.pipeline import Ingestor
from ingest.results import InputResult, summary
from ingest.warehouse.store import Source

Run = Callable[[Ingestor, Callable[[InputResult], None]], Awaitable[list[InputResult]]]


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

    async def run(ingestor: Ingestor, report: Callable[[InputResult], None]) -> list[InputResult]:
        return await ingestor.ingest(list(inputs), allow_paths=True, on_result=report, hints=hints)

    with lazy.twin() as twin:
        _run(twin, run, total=len(inputs), as_json=as_json, noun="input", verb="ingested")


@click.command()
@click.argument("only", nargs=-1, metavar="[SOURCE...]")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per source instead.")
@click.pass_obj
def recrawl(lazy: LazyTwin, only: tuple[str, ...], as_json: bool) -> None:
    """Crawl your sources again (all, or the SOURCEs named as `llm-twin sources` lists
    them), fetching only what changed: pages and feeds are asked "changed since?",
    known posts and unchanged GitHub files are not fetched, and only changed documents are
    re-embedded. Reports new, changed, unchanged and removed documents per source."""

    async def run(ingestor: Ingestor, report: Callable[[InputResult], None]) -> list[InputResult]:
        return await ingestor.recrawl(list(only), on_result=report)

    with lazy.twin() as twin:
        total = len(only) or len(twin.warehouse.list_sources())
        if total == 0:
            click.echo("no sources yet: add some with `llm-twin ingest URL|PATH`")
            return
        _run(twin, run, total=total, as_json=as_json, noun="source", verb="recrawled")


def _run(twin: Twin, run: Run, *, total: int, as_json: bool, noun: str, verb: str) -> None:
    bar = tqdm(
        total=total,
        unit="input",
        file=sys.stderr,
        leave=False,
        disable=as_json or not sys.stderr.isatty(),
    )

    def report(result: InputResult) -> None:
        bar.update(1)
        line = json.dumps(_result_json(result)) if as_json else result.line()
        tqdm.write(line, file=sys.stdout)
        for note in [] if as_json else result.notes:
            tqdm.write(f"  note: {note}", file=sys.stdout)

    async def go() -> list[InputResult]:
        async with twin.ingestor() as ingestor:
            return await run(ingestor, report)

    results = asyncio.run(go())
    bar.close()
    failed = [r for r in results if not r.ok]
    if not as_json:
        click.echo(summary(results, noun, verb))
    if failed:
        sys.exit(1)


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
