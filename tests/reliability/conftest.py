"""The fault-injection tally (tests/reliability/consistency.py), printed after the run."""

from __future__ import annotations

import pytest

from tests.reliability.consistency import TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY.checks or TALLY.faults:
        terminalreporter.section("fault injection")
        for line in TALLY.summary():
            terminalreporter.write_line(line)
