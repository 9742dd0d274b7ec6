"""`llm-twin serve`: the bot process (web page, Telegram, Slack, the model worker, the
schedules)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import click

from bot.cli.context import LazyTwin, user_errors


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), help="Web page port (default web.port).")
@click.option("--no-web", is_flag=True, help="No web page (/healthz and /metrics stay up).")
@click.pass_obj
def serve(lazy: LazyTwin, port: int | None, no_web: bool) -> None:
    """Run the bot: the local web page (always, unless disabled), Telegram when
    TWIN_TELEGRAM__TOKEN is set, Slack when TWIN_SLACK__BOT_TOKEN is set, all in one
    process with the model loaded once, and the schedules ([schedules]: recrawls,
    retraining, digests) unless another bot on the same database runs them. Prints where
    each front end listens; the web page's URL carries its access token. Stops cleanly
    on Ctrl-C or SIGTERM."""
    from bot.serve import serve as run_serve
    from model.backends import with_backend

    with user_errors():
        config = lazy.config()
        overrides: dict[str, Any] = {}
        if port is not None:
            overrides["port"] = port
        if no_web:
            overrides["enabled"] = False
        if overrides:
            config = dataclasses.replace(config, web=dataclasses.replace(config.web, **overrides))

        def ready(started: dict[str, str]) -> None:
            for name, where in started.items():
                click.echo(f"{name}: {where}")
            click.echo("ready; Ctrl-C stops")

        backend = with_backend(config.model).backend
        click.echo(f"loading the model ({backend})…", err=True)
        asyncio.run(run_serve(config, on_ready=ready))
