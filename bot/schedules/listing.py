"""The schedules as the owner reads them, in chat and on the command line."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from bot.schedules.scheduler import JobInfo
from bot.schedules.state import Failure

__all__ = ["describe_jobs", "schedule_words"]


def describe_jobs(
    jobs: list[JobInfo], failures: dict[str, Failure], *, now: datetime | None = None
) -> str:
    """One line per job: id, when it runs next (or paused), its schedule, failures."""
    now = now or datetime.now(UTC)
    lines = []
    for job in jobs:
        if job.kind == "heartbeat":
            continue
        when = "paused" if job.next_run is None else f"next {_when(job.next_run, now)}"
        line = f"{job.id}: {when} ({schedule_words(job)})"
        failure = failures.get(job.id.removesuffix(":retry"))
        if failure is not None and not job.retry:
            line += f"; failed {failure.failures}× in a row: {failure.last_error}"
        lines.append(line)
    if not lines:
        return "No scheduled jobs (ingest a source, or set [schedules] in config.toml)."
    return "\n".join(lines)


def _when(at: datetime, now: datetime) -> str:
    delta = at - now
    seconds = delta.total_seconds()
    if seconds < 60:
        return "now"
    if seconds < 3600:
        return f"in {seconds // 60:.0f} min"
    if seconds < 86400:
        return f"in {seconds / 3600:.1f} h ({at:%H:%M} UTC)"
    return f"{at:%a %Y-%m-%d %H:%M} UTC"


def schedule_words(job: JobInfo) -> str:
    """When a job runs, in words: "every 6:00:00", "cron 0 9 * * mon"."""
    if job.retry:
        return "a retry after a failure"
    trigger = job.trigger
    if trigger.startswith("interval["):
        return "every " + trigger.removeprefix("interval[").removesuffix("]")
    if trigger.startswith("cron["):
        fields = dict(re.findall(r"(\w+)='([^']*)'", trigger))
        order = ("minute", "hour", "day", "month", "day_of_week")
        return "cron " + " ".join(fields.get(name, "*") for name in order)
    return trigger
