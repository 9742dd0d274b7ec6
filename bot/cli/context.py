"""What every command shares: the lazily resolved config, the running bot (when there is
one to hand work to), and the one place where a `TwinError` becomes a line on stderr and
exit status 2.

Nothing heavy is imported here or at the top of any command module: `--help`, `config`,
`sources` and the like never pay for the model, the index or the network stack
(tests/bot/test_cli_light.py keeps it so).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from core.errors import TwinError

if TYPE_CHECKING:
    from bot.cli.remote import BotClient
    from bot.config import Config
    from bot.twin import Twin

log = logging.getLogger(__name__)


class LazyTwin:
    """Config is resolved when a command runs, so `--help` works with a broken config.
    `local`: never hand work to a running bot (`--local`)."""

    def __init__(self, load: Callable[[], Config], *, local: bool = False) -> None:
        self._load = load
        self._config: Config | None = None
        self.local = local

    def config(self) -> Config:
        """The resolved config (resolved once; a `ConfigError` is raised to the caller)."""
        if self._config is None:
            self._config = self._load()
        return self._config

    @contextmanager
    def twin(self, *, serve_active: bool = True) -> Iterator[Twin]:
        from bot.twin import Twin

        with user_errors():
            twin = Twin(self.config(), serve_active=serve_active)
            try:
                yield twin
            finally:
                twin.close()

    def bot(self) -> BotClient | None:
        """The bot serving this TWIN_HOME, to send the command to; None: work here."""
        if self.local:
            return None
        from bot.cli.remote import BotClient
        from bot.running import fingerprint, running_bot

        with user_errors():
            config = self.config()
        found = running_bot(config.home)
        if found is None:
            return None
        log.info("sending the command to the bot at %s (pid %d)", found.url, found.pid)
        return BotClient(found, fingerprint(config))


@contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except TwinError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
