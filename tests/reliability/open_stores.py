"""A child process that opens every store of a twin the way the bot does, on homes the
parent names one at a time: `python -m tests.reliability.open_stores`. Everything is
imported first; then each line on stdin ("HOME [WAREHOUSE_URL]") is a start signal, so
two children handed the same line open the same new home at the same moment. Each home
is answered with one line on stdout: "ok HOME" or "error HOME: the error's last line"."""

from __future__ import annotations

import asyncio
import sys
import traceback
from pathlib import Path

from bot.config import load_config
from bot.schedules.digest_log import DigestLog
from bot.schedules.service import ScheduleService
from bot.twin import Twin
from model.draft_history import DraftHistory
from training.dataset import DatasetStats, Example, save_dataset
from training.run import run_folder


def open_everything(home: Path, url: str) -> None:
    overrides = {"warehouse.url": url} if url else {}
    twin = Twin(load_config(overrides, home=home))
    try:
        _ = twin.warehouse, twin.drafts, twin.models
        DraftHistory(twin.warehouse)
        DigestLog(twin.warehouse)
        assert twin.index.count() == 0
        asyncio.run(_schedules(twin))
        run_folder(home, "20250101-000000-same").mkdir(parents=True, exist_ok=True)
        example = Example("d", "https://x.test/d", "note", "t", "Write a note.", "A note.")
        save_dataset(home / "datasets", [example], [], DatasetStats())
    finally:
        twin.close()


async def _schedules(twin: Twin) -> None:
    service = ScheduleService(twin)
    service.schedules.open_paused()
    try:
        service.schedules.sync([])
    finally:
        service.schedules.stop()
    service.state.acquire("someone")


def main() -> None:
    print("ready", flush=True)
    for line in sys.stdin:
        home, _, url = line.strip().partition(" ")
        try:
            open_everything(Path(home), url)
            print(f"ok {home}", flush=True)
        except BaseException as exc:  # report it; the parent decides
            last = " ".join(traceback.format_exception_only(exc)[-1].split())[:300]
            print(f"error {home}: {last}", flush=True)
            traceback.print_exc()


if __name__ == "__main__":
    main()
