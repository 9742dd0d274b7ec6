"""What every command shares: the lazily resolved config and the one place where a
`TwinError` becomes a line on stderr and exit status 2."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from bot.config import Config
from bot.twin import Twin
from core.errors import TwinError


class LazyTwin:
    """Config is resolved when a command runs, so `--help` works with a broken config."""

    def __init__(self, load: Callable[[], Config]) -> None:
        self.config = load

    @contextmanager
    def twin(self, *, serve_active: bool = True) -> Iterator[Twin]:
        with user_errors():
            twin = Twin(self.config(), serve_active=serve_active)
            try:
                yield twin
            finally:
                twin.close()


@contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except TwinError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
