"""One digest run in its own process, for the kill -9 tests:
`python -m tests.reliability.digest_child MODEL_URL POSTED [--hold]` on `$TWIN_HOME`.

It posts the digest of the period ending now to telegram:42 by appending it to the file
POSTED (the chat, as far as the test can see), with a draft from the model at MODEL_URL.
With `--hold` it stops after posting, before the post is recorded, until killed."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta
from pathlib import Path

from bot.config import load_config
from bot.schedules import digest_post
from bot.twin import Twin

DESTINATION = "telegram:42"


async def run(model_url: str, posted: Path, hold: bool) -> str:
    digest_post.SETTLE = timedelta(0)  # what was ingested a moment ago is in this period
    config = load_config({"model.backend": "openai", "model.url": model_url})
    twin = Twin(config)

    async def notify(destination: str, text: str, draft_id: str | None) -> None:
        with posted.open("a") as out:
            out.write(json.dumps({"to": destination, "text": text, "draft": draft_id}) + "\n")
        print("posted", flush=True)
        if hold:  # killed here: posted, not yet recorded as sent
            await asyncio.to_thread(sys.stdin.readline)

    try:
        async with twin.draft_writer() as writer:
            return await digest_post.post_digest(
                twin.warehouse, DESTINATION, notify=notify, writer=writer, draft_format="linkedin"
            )
    finally:
        twin.close()


if __name__ == "__main__":
    said = asyncio.run(run(sys.argv[1], Path(sys.argv[2]), "--hold" in sys.argv[3:]))
    print(f"digest: {said}", flush=True)
