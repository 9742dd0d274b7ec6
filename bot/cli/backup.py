"""`llm-twin backup FILE` and `llm-twin restore FILE` (bot/backup.py, bot/restore.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from bot.cli.context import LazyTwin, user_errors
from core.wording import plural


@click.command("backup")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.pass_obj
def backup(lazy: LazyTwin, file: Path) -> None:
    """Write one archive (.tar.gz) of everything that cannot be recrawled: the warehouse
    (documents, drafts, ratings and edits, training runs, the scheduler's jobs), adapters
    and eval reports, datasets, uploads and saved settings. Safe while the bot runs; the
    index is not in it (restore rebuilds it)."""
    from bot.backup import backup as write_backup
    from bot.backup import describe

    with lazy.twin() as twin, user_errors():
        manifest = write_backup(twin.config.home, twin.warehouse, file)
    files = plural(len(manifest.files), "file")
    click.echo(f"backed up {describe(manifest.tables)} and {files} to {file}")


@click.command("restore")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--force",
    is_flag=True,
    help="Restore into a home (or PostgreSQL database) that is not empty: its warehouse,"
    " index and backed-up folders are replaced; the rest of it is left alone.",
)
@click.pass_obj
def restore(lazy: LazyTwin, file: Path, force: bool) -> None:
    """Restore a backup into this TWIN_HOME (which must be empty, unless --force) and
    rebuild the index from the restored warehouse."""
    from bot.backup import describe
    from bot.restore import restore as put_back

    with user_errors():
        config = lazy.config()
        restored = put_back(file, config.home, config.warehouse_url, force=force)
    taken = restored.manifest.created_at
    files = plural(len(restored.manifest.files), "file")
    click.echo(f"restored {describe(restored.tables)} and {files} (backed up {taken})")
    for run_id in restored.interrupted:
        click.echo(f"note: run {run_id} was training when the backup was taken; marked failed")
    with lazy.twin() as twin:
        result = asyncio.run(twin.reindex())
    if result.error:
        click.echo(f"error: rebuilding the index: {result.error}; run `llm-twin reindex`", err=True)
        raise SystemExit(1)
    click.echo(f"index rebuilt from the warehouse: {plural(result.chunks, 'chunk')}")
