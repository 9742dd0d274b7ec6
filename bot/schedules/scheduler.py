"""The scheduler: APScheduler 3's `AsyncIOScheduler` in the bot's event loop, its jobs in
the warehouse database (`apscheduler_jobs`), one scheduler per database (a lease).

Jobs have stable ids and are kept in step with config and the sources at start and on
every heartbeat: a recrawl job per source (`schedules.recrawl_every`, or its override),
the weekly retrain (`retrain_cron`), the new-writing check (`retrain_check_every`), a
digest per destination (`digest_cron`). A job whose trigger did not change is left as it
is, so a paused job stays paused and a restart does not push runs back. Jobs coalesce
(missed runs while the bot was down run once, not once per miss), run one instance at a
time, and a run more than `misfire_grace` seconds late is skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import Engine

from bot.schedules.jobs import JOB_FUNC, JobKind, job_id
from bot.schedules.settings import SchedulesSettings
from bot.schedules.state import HEARTBEAT, SchedulerState, this_process
from bot.schedules.triggers import cron_trigger, interval_trigger, parse_duration
from core.errors import InputError

__all__ = ["JobInfo", "Schedules"]

log = logging.getLogger(__name__)

TABLE = "apscheduler_jobs"
_RETRY = ":retry"


@dataclass(frozen=True, slots=True)
class JobInfo:
    id: str
    kind: JobKind
    target: str
    trigger: str
    next_run: datetime | None  # None: paused

    @property
    def paused(self) -> bool:
        return self.next_run is None

    @property
    def retry(self) -> bool:
        """A one-off rerun of a failed job."""
        return self.id.endswith(_RETRY)


class Schedules:
    """The jobs of one twin. `start()` runs them (when this process gets the lease);
    without it, `open_paused()` reads and changes the stored jobs (the CLI)."""

    def __init__(self, settings: SchedulesSettings, engine: Engine, state: SchedulerState) -> None:
        self.cfg = settings
        self.state = state
        self.holder = this_process()
        self.running = False  # holds the lease and runs jobs
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=TABLE)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": self.cfg.misfire_grace,
            },
            timezone=self.cfg.timezone,
        )

    # --- running ------------------------------------------------------------------------

    def start(self, sources: list[str]) -> str | None:
        """Start running jobs; the reason it did not when another process holds the lease.
        Call inside the running event loop."""
        other = self.state.acquire(self.holder)
        if other is not None:
            return (
                f"another bot ({other.holder}, since {other.acquired_at:%Y-%m-%d %H:%M} UTC)"
                " runs the schedules for this database; this one serves chat without them"
            )
        self.scheduler.start()
        self.running = True
        self.sync(sources)
        return None

    def open_paused(self) -> None:
        """Open the stored jobs without running any (for listing and changing them)."""
        self.scheduler.start(paused=True)

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.running:
            self.state.release(self.holder)
            self.running = False

    def heartbeat(self, sources: list[str]) -> bool:
        """Renew the lease and keep the jobs in step with the sources; False (and stopped)
        when the lease was lost."""
        if not self.state.renew(self.holder):
            log.error("the schedules lease was taken over by another process; stopping mine")
            self.stop()
            return False
        self.sync(sources)
        return True

    def retry(self, kind: JobKind, target: str, delay: float) -> None:
        """Run a failed job again once, `delay` seconds from now (its schedule stays)."""
        when = datetime.now(UTC) + timedelta(seconds=delay)
        self.scheduler.add_job(
            JOB_FUNC,
            DateTrigger(run_date=when),
            id=job_id(kind, target) + _RETRY,
            name=f"retry {job_id(kind, target)}",
            kwargs={"kind": kind, "target": target},
            replace_existing=True,
        )

    # --- keeping jobs in step with config and sources -----------------------------------

    def wanted(self, sources: list[str]) -> dict[str, tuple[Any, JobKind, str]]:
        """Every job config and `sources` ask for: id -> (trigger, kind, target)."""
        cfg, tz = self.cfg, self.cfg.timezone
        jobs: dict[str, tuple[Any, JobKind, str]] = {
            "heartbeat": (interval_trigger(HEARTBEAT, tz), "heartbeat", ""),
        }
        overrides = cfg.overrides()
        for source in sources:
            every = overrides.get(source, cfg.recrawl_every)
            duration = parse_duration(every, "schedules.recrawl_every")
            if duration is not None:
                jobs[job_id("recrawl", source)] = (
                    interval_trigger(duration, tz),
                    "recrawl",
                    source,
                )
        if (retrain := cron_trigger(cfg.retrain_cron, "schedules.retrain_cron", tz)) is not None:
            jobs["retrain"] = (retrain, "retrain", "")
        check = parse_duration(cfg.retrain_check_every, "schedules.retrain_check_every")
        if check is not None and cfg.retrain_min_new_documents > 0:
            jobs["retrain-check"] = (interval_trigger(check, tz), "retrain-check", "")
        digest = cron_trigger(cfg.digest_cron, "schedules.digest_cron", tz)
        if digest is not None:
            for destination in cfg.digest_to:
                jobs[job_id("digest", destination)] = (digest, "digest", destination)
        if (backup := cron_trigger(cfg.backup_cron, "schedules.backup_cron", tz)) is not None:
            jobs["backup"] = (backup, "backup", "")
        return jobs

    def sync(self, sources: list[str]) -> None:
        wanted = self.wanted(sources)
        stored = {job.id: job for job in self.scheduler.get_jobs()}  # one read of the store
        for ident, job in stored.items():
            if ident.removesuffix(_RETRY) not in wanted:
                job.remove()
        for ident, (trigger, kind, target) in wanted.items():
            existing = stored.get(ident)
            if existing is not None and str(existing.trigger) == str(trigger):
                continue  # unchanged: keep its next run time, and its pause
            paused = existing is not None and existing.next_run_time is None
            options: dict[str, Any] = {"next_run_time": None} if paused else {}
            self.scheduler.add_job(
                JOB_FUNC,
                trigger,
                id=ident,
                name=ident,
                kwargs={"kind": kind, "target": target},
                replace_existing=True,
                **options,
            )

    # --- control (chat and CLI) ---------------------------------------------------------

    def jobs(self) -> list[JobInfo]:
        out = []
        for job in self.scheduler.get_jobs():
            kwargs = job.kwargs
            out.append(
                JobInfo(
                    id=job.id,
                    kind=cast(JobKind, kwargs["kind"]),  # stored by sync() or retry()
                    target=str(kwargs.get("target", "")),
                    trigger=str(job.trigger),
                    next_run=job.next_run_time,
                )
            )
        return sorted(
            out,
            key=lambda j: (
                j.next_run is None,
                j.next_run or datetime.max.replace(tzinfo=UTC),
                j.id,
            ),
        )

    def find(self, ref: str) -> JobInfo:
        """A job by its id, or by a unique part of it (a source url, "digest")."""
        jobs = [j for j in self.jobs() if j.kind != "heartbeat" and not j.retry]
        exact = [j for j in jobs if ref in (j.id, j.target)]
        matches = exact or [j for j in jobs if ref in j.id]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(j.id for j in jobs) or "none"
        if not matches:
            raise InputError(ref, f"no such scheduled job; the jobs are: {known}")
        raise InputError(ref, f"matches several jobs ({', '.join(j.id for j in matches)})")

    def pause(self, ref: str) -> JobInfo:
        job = self.find(ref)
        self.scheduler.pause_job(job.id)
        return self.find(job.id)

    def resume(self, ref: str) -> JobInfo:
        job = self.find(ref)
        self.scheduler.resume_job(job.id)
        return self.find(job.id)

    def run_soon(self, ref: str) -> JobInfo:
        """Mark a job due now: the running scheduler (this process, or the bot holding
        the lease, within a heartbeat) runs it; its schedule goes on afterwards."""
        job = self.find(ref)
        if job.paused:
            raise InputError(ref, "the job is paused; resume it first")
        self.scheduler.modify_job(job.id, next_run_time=datetime.now(UTC))
        self.scheduler.wakeup()
        return self.find(job.id)
