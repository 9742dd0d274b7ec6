"""The one function every stored job calls, and the process-wide runtime it runs in.

APScheduler keeps jobs in the database by reference ("bot.schedules.jobs:run_job" and its
keyword arguments), never by pickled objects: a job stored by one version of the bot runs
in the next. The bot process installs its `JobRuntime` (the twin, the chat notifiers,
the training jobs) when the scheduler starts, and the function hands each run to it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Literal, Protocol

__all__ = ["JOB_FUNC", "JobKind", "JobRunner", "Notify", "install", "job_id", "run_job"]

JobKind = Literal["recrawl", "retrain", "retrain-check", "digest", "backup", "heartbeat"]
# How jobs tell the owner: post(destination, text, draft_id), `bot.chat.notify.poster`
# over the running chats (the same shape as `bot.chat.notify.Post`).
Notify = Callable[[str, str, "str | None"], Awaitable[None]]
JOB_FUNC = "bot.schedules.jobs:run_job"
_MAX_ID = 180  # APScheduler's id column holds 191 characters


class JobRunner(Protocol):
    """What runs the jobs: `bot.schedules.runtime.JobRuntime` in the bot process."""

    async def run(self, kind: JobKind, target: str = "") -> str: ...


_runtime: JobRunner | None = None


def install(runtime: JobRunner | None) -> None:
    global _runtime
    _runtime = runtime


def job_id(kind: JobKind, target: str = "") -> str:
    """Stable, readable ids: "recrawl:<source url>", "digest:telegram:123", "retrain"."""
    if not target:
        return kind
    ident = f"{kind}:{target}"
    if len(ident) <= _MAX_ID:
        return ident
    return f"{kind}:{hashlib.sha256(target.encode()).hexdigest()[:24]}"


async def run_job(kind: JobKind, target: str = "") -> None:
    if _runtime is None:  # a job fired in a process that does not run schedules
        raise RuntimeError("no schedule runtime in this process; the bot installs one")
    await _runtime.run(kind, target)
