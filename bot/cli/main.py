"""`llm-twin`: thin commands over the library. A `TwinError` from any command becomes one
line on stderr and exit status 2 (`user_errors` in bot/cli/context.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli.backup import backup, restore
from bot.cli.check import check
from bot.cli.context import LazyTwin, user_errors
from bot.cli.draft import draft
from bot.cli.export import export
from bot.cli.ingest import ingest, recrawl, sources
from bot.cli.schedules import schedules
from bot.cli.serve import serve
from bot.cli.style import style
from bot.cli.train import dataset, eval_command, models, quantize, train
from bot.cli.web import web_token

if TYPE_CHECKING:
    from bot.config import Config


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(path_type=Path, file_okay=False),
    help="State directory (warehouse, index, logs). Default: $TWIN_HOME or ./.twin",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Config file. Default: $TWIN_CONFIG, else ./config.toml when present.",
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="SECTION.KEY=VALUE",
    help="Override one config key (highest precedence); repeatable.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log progress details to stderr.")
@click.option(
    "--local",
    is_flag=True,
    envvar="TWIN_LOCAL",
    help="Work in this process even when `llm-twin serve` runs on the same home (search,"
    " draft, ingest and recrawl go to a running bot by default). Env: TWIN_LOCAL=1.",
)
@click.pass_context
def cli(
    ctx: click.Context,
    home: Path | None,
    config_file: Path | None,
    settings: tuple[str, ...],
    verbose: bool,
    local: bool,
) -> None:
    """LLM Twin: collect your writing, search it, and draft in your voice."""
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)  # also where logging was set up before (tests)
    overrides: dict[str, str] = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep:
            raise click.UsageError(f"--set {setting!r}: expected SECTION.KEY=VALUE")
        overrides[key.strip()] = value

    def load() -> Config:
        from bot.config import load_config

        return load_config(overrides, home=home, config_file=config_file)

    ctx.obj = LazyTwin(load, local=local)


def _date(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date; use YYYY-MM-DD", param_hint=name
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@cli.command()
@click.argument("query")
@click.option("--k", type=click.IntRange(min=1), help="How many passages (default search.k).")
@click.option(
    "--alpha",
    type=click.FloatRange(0.0, 1.0),
    help="0 = BM25 only, 1 = vectors only (default search.alpha).",
)
@click.option("--platform", multiple=True, help="Only this platform; repeatable.")
@click.option("--author", multiple=True, help="Only this author; repeatable.")
@click.option("--since", help="Only passages published on/after this date (YYYY-MM-DD).")
@click.option("--until", help="Only passages published before this date (YYYY-MM-DD).")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON list of {url, title, platform, score, text}.",
)
@click.pass_obj
def search(
    lazy: LazyTwin,
    query: str,
    k: int | None,
    alpha: float | None,
    platform: tuple[str, ...],
    author: tuple[str, ...],
    since: str | None,
    until: str | None,
    as_json: bool,
) -> None:
    """Hybrid (BM25 + vector) search over everything ingested (by the running bot when
    `llm-twin serve` runs on this home; see --local)."""
    from bot.cli.search import search_hits
    from retrieval.types import SearchFilters

    filters = SearchFilters(
        platforms=platform,
        authors=author,
        published_after=_date(since, "--since"),
        published_before=_date(until, "--until"),
    )
    hits = search_hits(lazy, query, k=k, alpha=alpha, filters=filters)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "url": h.chunk.url,
                        "title": h.chunk.title,
                        "platform": h.chunk.platform,
                        "score": round(h.score, 6),
                        "text": h.chunk.text,
                    }
                    for h in hits
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    if not hits:
        click.echo("no matches")
        return
    for rank, hit in enumerate(hits, 1):
        snippet = hit.snippet(240)
        click.echo(
            f"{rank}. [{hit.score:.3f}] {hit.chunk.title or '(untitled)'} "
            f"({hit.chunk.platform})\n   {hit.chunk.url}\n   {snippet}"
        )


@cli.command()
@click.argument("url")
@click.pass_obj
def forget(lazy: LazyTwin, url: str) -> None:
    """Remove a source (and all its documents) or one document. A running bot (`serve` on
    this home) removes the chunks with them; without one, searches skip the chunks and the
    index drops them when it next opens."""
    from bot.cli.search import forget_url

    with lazy.twin() as twin:
        removed = forget_url(lazy, twin, url.strip())
        if not removed and twin.warehouse.get_source(url.strip()) is None:
            click.echo(
                f"error: {url}: not a known source or document; see `llm-twin sources`", err=True
            )
            sys.exit(1)
        click.echo(f"forgot {url}: {removed or 'the source, which held no documents'}")


@cli.command()
@click.option(
    "--to",
    "backend",
    type=click.Choice(["lance", "weaviate"]),
    help="Build the index of this backend instead of index.backend's (e.g. to move to"
    " Weaviate); the other backend's index is left as it is.",
)
@click.pass_obj
def reindex(lazy: LazyTwin, backend: str | None) -> None:
    """Rebuild the search index from the warehouse (after changing the embedding model or
    chunk settings, if the index was lost, or to fill another backend with --to)."""
    with user_errors():
        config = lazy.config()
    if backend is not None:
        config = dataclasses.replace(
            config, index=dataclasses.replace(config.index, backend=backend)
        )
    from tqdm import tqdm

    from bot.twin import Twin

    with user_errors():
        twin = Twin(config)
    try:
        with user_errors():
            total = twin.warehouse.count_documents()
            bar = tqdm(total=total, unit="doc", file=sys.stderr, disable=not sys.stderr.isatty())

            def tick() -> None:
                bar.update(1)

            result = asyncio.run(twin.reindex(on_document=tick))
            bar.close()
    finally:
        twin.close()
    if result.error:
        click.echo(f"error: {result.error}", err=True)
        sys.exit(1)
    click.echo(
        f"reindexed {result.documents} documents into {result.chunks} chunks"
        f" ({config.index.backend})"
    )
    if backend is not None and backend != lazy.config().index.backend:
        click.echo(
            f'search it by setting index.backend = "{backend}" in config.toml'
            f" (or TWIN_INDEX__BACKEND={backend})"
        )


@cli.command("config")
@click.pass_obj
def show_config(lazy: LazyTwin) -> None:
    """Print the resolved configuration (after flags, env, the settings file and the
    config file)."""
    from bot.config import SECTIONS, SETTINGS_FILE

    with user_errors():
        config = lazy.config()
    click.echo(f"# home: {config.home}  (TWIN_HOME)")
    click.echo(f"# config file: {config.config_file or '(none)'}")
    click.echo(f"# settings file: {config.home / SETTINGS_FILE}  (saved from the web page)")
    for name in SECTIONS:
        click.echo(f"\n[{name}]")
        section = getattr(config, name)
        for field in dataclasses.fields(section):  # some sections are slotted: no vars()
            key, value = field.name, getattr(section, field.name)
            click.echo(f"{key} = {json.dumps(list(value) if isinstance(value, tuple) else value)}")


cli.add_command(ingest)
cli.add_command(recrawl)
cli.add_command(sources)
cli.add_command(draft)
cli.add_command(style)
cli.add_command(serve)
cli.add_command(dataset)
cli.add_command(train)
cli.add_command(eval_command)
cli.add_command(quantize)
cli.add_command(models)
cli.add_command(export)
cli.add_command(schedules)
cli.add_command(web_token)
cli.add_command(check)
cli.add_command(backup)
cli.add_command(restore)


def main() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    cli(prog_name="llm-twin")
