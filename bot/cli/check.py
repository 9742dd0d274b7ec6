"""`llm-twin check [--repair]`: every store's state, one line each (bot/store_check.py)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from bot.cli.context import LazyTwin, user_errors
from core.wording import plural

if TYPE_CHECKING:
    from bot.store_check import Finding


@click.command("check")
@click.option(
    "--repair",
    is_flag=True,
    help="Mend what can be mended: the index from the warehouse (or rebuilt when it cannot"
    " be opened), training runs whose process is gone marked failed.",
)
@click.pass_obj
def check(lazy: LazyTwin, repair: bool) -> None:
    """Report the state of every store: the home folder and free disk, the warehouse's
    rows and last migration, the index against the warehouse and its manifest, the
    schedules' lease, the training runs. Exit status 1 when something needs attention."""
    from bot.store_check import check_stores
    from bot.store_check import repair as mend

    with lazy.twin() as twin, user_errors():
        findings = check_stores(twin)
        _print(findings)
        if repair and any(f.repairable for f in findings):
            for done in mend(twin, findings):
                click.echo(f"repaired: {done}")
            findings = check_stores(twin)
            _print([f for f in findings if f.problem])
    problems = [f for f in findings if f.problem]
    if not problems:
        click.echo("all stores in step")
        return
    fixable = any(f.repairable for f in problems) and not repair
    hint = "; `llm-twin check --repair` mends it" if fixable else ""
    verb = "needs" if len(problems) == 1 else "need"
    click.echo(f"{plural(len(problems), 'store')} {verb} attention{hint}", err=True)
    sys.exit(1)


def _print(findings: list[Finding]) -> None:
    for finding in findings:
        click.echo(f"{finding.store:<10} {finding.line}")
        if finding.problem:
            click.echo(f"{'':<10} ✗ {finding.problem}")
