"""Child processes for the kill -9 tests: `llm-twin` (or one digest run) on a home, its
output in a file the test watches, killed with SIGKILL the moment a condition holds
(a count of stored documents, a line of output, a request reaching a loopback server)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import make_url

from bot.config import load_config

REPO = Path(__file__).resolve().parents[2]
WAIT = 300.0  # seconds a condition may take before the harness gives up


class Child:
    """`python -m MODULE ARGS` (default: `llm-twin ARGS`) on `home`, output in `log`."""

    def __init__(self, home: Path, log: Path, *args: str, module: str = "bot") -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")}
        env |= {"TWIN_HOME": str(home), "TWIN_LOCAL": "1"}
        if cache := os.environ.get("TWIN_MODEL__CACHE_DIR"):  # the session's dequantized GGUFs
            env["TWIN_MODEL__CACHE_DIR"] = cache
        self.log = log
        with log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.PIPE,  # held open: a child may wait on it to be killed
                env=env,
                cwd=REPO,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill_when(self, ready: Callable[[], bool]) -> None:
        """SIGKILL as soon as `ready()` holds (checked every 20 ms); the child must still be
        running then, or the kill would have hit nothing."""
        deadline = time.monotonic() + WAIT
        while not ready():
            assert self.process.poll() is None, f"ended before the kill:\n{self.output()}"
            if time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(f"the kill's moment never came:\n{self.output()}")
            time.sleep(0.02)
        self.process.send_signal(signal.SIGKILL)
        code = self.process.wait(60)  # reaped: its pid is gone, as after a real kill -9
        assert code == -signal.SIGKILL, self.output()

    def finish(self) -> str:
        """Its output, once it ended well."""
        code = self.process.wait(600)
        output = self.output()
        assert code == 0 and "Traceback" not in output, output
        return output

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(60)
        if self.process.stdin is not None:
            self.process.stdin.close()


def stored_documents(home: Path) -> int:
    """Documents committed to `home`'s SQLite warehouse now (0 before it exists)."""
    database = make_url(load_config(home=home, env={}).warehouse_url).database
    if not database or not Path(database).is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM documents").fetchone()[0])
    except sqlite3.OperationalError:  # the table is not made yet
        return 0


def lines(child: Child, mark: str) -> Callable[[], int]:
    """How many lines of `child`'s output hold `mark`."""
    return lambda: sum(mark in line for line in child.output().splitlines())
