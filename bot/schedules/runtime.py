"""What scheduled jobs do, and what happens when they fail.

A job that fails is retried with backoff (`schedules.retries` times, `retry_backoff`
seconds doubling), stays on its schedule, and after `report_after` failures in a row the
owner is told once (on `report_to`, else `digest_to`); the next success says it recovered.
Nothing a job raises reaches the scheduler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bot.schedules.jobs import JobKind, Notify, job_id
from bot.schedules.state import SchedulerState
from core.errors import TwinError

if TYPE_CHECKING:
    from bot.twin import Twin
    from model.draft import DraftWriter
    from training.jobs import TrainingJobs

__all__ = ["JobFailed", "JobRuntime", "Notify"]

log = logging.getLogger(__name__)

Retry = Callable[[JobKind, str, float], None]


class JobFailed(TwinError):
    """A job ran and did not do its work (a recrawl that failed, a training that failed)."""


class JobRuntime:
    def __init__(
        self,
        twin: Twin,
        state: SchedulerState,
        *,
        notify: Notify | None = None,
        training: TrainingJobs | None = None,
        retry: Retry | None = None,
        writer: DraftWriter | None = None,
    ) -> None:
        self.twin = twin
        self.config = twin.config.schedules
        self.state = state
        self.notify = notify
        self._training = training
        self.retry = retry
        self.writer = writer  # drafts the digest's suggestion (None: digests without one)
        # The scheduler's own upkeep (lease, jobs in step with sources), set by its owner.
        self.on_heartbeat: Callable[[], Awaitable[None]] | None = None
        self.last: dict[str, str] = {}  # job id -> what its last run said
        self._locks: dict[str, asyncio.Lock] = {}
        self._jobs: dict[str, Callable[[str], Awaitable[str]]] = {
            "recrawl": self.recrawl,
            "retrain": self.retrain,
            "retrain-check": self.retrain_check,
            "digest": self.digest,
            "backup": self.backup,
        }

    @property
    def training(self) -> TrainingJobs:
        """The training jobs, made on first use (listing the schedules needs none)."""
        if self._training is None:
            from training.jobs import TrainingJobs

            self._training = TrainingJobs(self.twin.training_context())
        return self._training

    async def run(self, kind: JobKind, target: str = "") -> str:
        """Run one job now (one instance per job at a time); never raises."""
        if kind == "heartbeat":
            if self.on_heartbeat is not None:
                await self.on_heartbeat()
            return "ok"
        ident = job_id(kind, target)
        lock = self._locks.setdefault(ident, asyncio.Lock())
        async with lock:
            try:
                said = await self._jobs[kind](target)
            except Exception as exc:
                reason = str(exc) if isinstance(exc, TwinError) else f"{type(exc).__name__}: {exc}"
                if not isinstance(exc, TwinError):
                    log.exception("scheduled job %s failed", ident)
                await self._failed(kind, target, reason)
                self.last[ident] = f"failed: {reason}"
                return self.last[ident]
            cleared = await asyncio.to_thread(self.state.succeeded, ident)
            if cleared is not None and cleared.reported:
                await self._tell(f"✅ {ident} works again (after {cleared.failures} failures).")
            self.last[ident] = said
            return said

    async def _failed(self, kind: JobKind, target: str, reason: str) -> None:
        ident = job_id(kind, target)
        failure = await asyncio.to_thread(self.state.failed, ident, reason)
        log.warning("scheduled job %s failed (%d in a row): %s", ident, failure.failures, reason)
        if failure.failures <= self.config.retries and self.retry is not None:
            self.retry(kind, target, self.config.retry_backoff * 2 ** (failure.failures - 1))
        if failure.failures >= self.config.report_after and not failure.reported:
            await self._tell(
                f"⚠️ {ident} failed {failure.failures} times in a row: {reason}. It stays on"
                " its schedule; you will hear again only when it works."
            )
            await asyncio.to_thread(self.state.mark_reported, ident)

    async def _tell(self, text: str) -> None:
        """Tell the owner, wherever reports go; a report that cannot be posted is logged."""
        destinations = self.config.report_to or self.config.digest_to
        if self.notify is None or not destinations:
            log.warning("no schedules.report_to to tell the owner: %s", text)
            return
        for destination in destinations:
            try:
                await self.notify(destination, text, None)
            except TwinError as exc:
                log.error("could not report to %s: %s", destination, exc)

    # --- the jobs -----------------------------------------------------------------------

    async def recrawl(self, source: str) -> str:
        async with self.twin.ingestor() as ingestor:
            [result] = await ingestor.recrawl([source])
        if not result.ok:
            raise JobFailed(result.error or f"{source}: the recrawl failed")
        return result.line()

    async def retrain_check(self, _: str = "") -> str:
        """Retrain once enough new writing came in since the active model was trained."""
        threshold = self.config.retrain_min_new_documents
        if threshold <= 0:
            return "off (schedules.retrain_min_new_documents is 0)"
        new = await asyncio.to_thread(self.new_documents)
        if new < threshold:
            return f"{new} new documents since the active model; retraining at {threshold}"
        return await self.retrain()

    async def retrain(self, _: str = "") -> str:
        """Train a new model in a child process (serving goes on); it is activated only
        if it beats the active one on the held-out metric (the trainer's own rule)."""
        if self.training.current is not None:
            return "a training run is already going; not starting another"
        new = await asyncio.to_thread(self.new_documents)
        if new == 0:
            return "no new documents since the active model; nothing to retrain on"
        from training.run import TrainOptions

        job = await self.training.start(TrainOptions())
        await self._tell(f"🏋️ Retraining on {new} new documents: {job.where()}")
        done = await job.wait()
        await self._tell(done.summary())
        if done.status != "trained":
            raise JobFailed(done.error or f"training {done.status}")
        return done.summary().splitlines()[0]

    def new_documents(self) -> int:
        """Documents of the owner's writing stored since the active model's run started
        (all of them when the base model serves)."""
        active = self.twin.models.active()
        since = active.created_at if active is not None else None
        return self.twin.warehouse.count_documents(created_after=since, own_writing=True)

    async def digest(self, destination: str) -> str:
        from bot.schedules.digest_post import post_digest

        return await post_digest(
            self.twin.warehouse,
            destination,
            notify=self.notify,
            writer=self.writer,
            draft_format=self.twin.config.drafting.format,
        )

    async def backup(self, _: str = "") -> str:
        """A backup archive in schedules.backup_dir (default $TWIN_HOME/backups), the
        oldest beyond schedules.backup_keep removed."""
        from bot.backup import backup_into, describe

        home = self.twin.config.home
        folder = Path(self.config.backup_dir) if self.config.backup_dir else home / "backups"
        written, manifest, removed = await asyncio.to_thread(
            backup_into, home, self.twin.warehouse, folder, self.config.backup_keep
        )
        return f"backed up {describe(manifest.tables)} to {written} ({removed} old removed)"
