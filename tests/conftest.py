from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.http_server import LocalServer


@pytest.fixture(autouse=True)
def twin_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No test touches a real state dir or a real config file."""
    home = tmp_path / "twin-home"
    monkeypatch.setenv("TWIN_HOME", str(home))
    monkeypatch.delenv("TWIN_CONFIG", raising=False)
    for name in list(__import__("os").environ):
        if name.startswith("TWIN_") and "__" in name:
            monkeypatch.delenv(name)
    yield home


@pytest.fixture
async def server() -> AsyncIterator[LocalServer]:
    srv = LocalServer()
    await srv.start()
    try:
        yield srv
    finally:
        await srv.close()
