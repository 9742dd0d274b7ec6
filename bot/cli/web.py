"""`llm-twin web-token`: the web page's address with its token, or a new token."""

from __future__ import annotations

import click

from bot.cli.context import LazyTwin, user_errors
from bot.web.access import WebToken


@click.command("web-token")
@click.option(
    "--rotate",
    is_flag=True,
    help="Make a new token: the old one stops working at once, in a running bot too.",
)
@click.pass_obj
def web_token(lazy: LazyTwin, rotate: bool) -> None:
    """Print the web page's address with its access token. The token is kept in
    $TWIN_HOME/web_token (readable by you only) and stays the same across restarts;
    --rotate replaces it (open tabs then ask for the new address)."""
    with user_errors():
        config = lazy.config()
    token = WebToken(config.home)
    value = token.rotate() if rotate else token.value()
    web = config.web
    scheme = "https" if web.tls_cert else "http"
    if web.port == 0:
        click.echo(f"token: {value}  (web.port is 0: add #token={value} to the printed address)")
    else:
        click.echo(f"{scheme}://{web.host}:{web.port}/#token={value}")
    if rotate:
        click.echo("rotated: the old token no longer works", err=True)
