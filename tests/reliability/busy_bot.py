"""A stand-in for a running bot's writes, in its own process: it holds the schedules'
lease and keeps saving drafts and their ratings (each in its own transaction, as the
bot does) until its stdin closes; then it prints how many drafts it saved.
`python -m tests.reliability.busy_bot HOME [WAREHOUSE_URL]`"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from bot.config import load_config
from bot.schedules.state import SchedulerState
from bot.twin import Twin
from model.records import DraftRecord


def main() -> None:
    home, url = Path(sys.argv[1]), (sys.argv[2] if len(sys.argv) > 2 else "")
    twin = Twin(load_config({"warehouse.url": url} if url else {}, home=home, env={}))
    state = SchedulerState(twin.warehouse.engine, twin.warehouse.writer)
    state.acquire("busy bot")
    closed = threading.Event()

    def until_stdin_closes() -> None:
        sys.stdin.read()
        closed.set()

    threading.Thread(target=until_stdin_closes, daemon=True).start()
    saved = 0
    while not closed.is_set():
        draft = DraftRecord(f"busy {saved}", "post", f"text {saved}", "stop", "test", "m", "1")
        twin.drafts.save(draft)
        twin.drafts.add_feedback(draft.id, user="owner", rating=1 if saved % 2 else -1)
        state.renew("busy bot")
        saved += 1
        if saved == 1:
            print("writing", flush=True)
    twin.close()
    print(saved, flush=True)


if __name__ == "__main__":
    main()
