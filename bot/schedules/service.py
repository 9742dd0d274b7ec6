"""The schedules inside `serve`: the scheduler, the runtime its jobs run in, and the
control the chat commands use."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from bot.schedules.jobs import install
from bot.schedules.runtime import JobRuntime, Notify
from bot.schedules.scheduler import JobInfo, Schedules
from bot.schedules.state import SchedulerState

if TYPE_CHECKING:
    from bot.twin import Twin
    from model.draft import DraftWriter
    from training.jobs import TrainingJobs

__all__ = ["ScheduleService"]

log = logging.getLogger(__name__)


class ScheduleService:
    def __init__(
        self,
        twin: Twin,
        *,
        notify: Notify | None = None,
        training: TrainingJobs | None = None,
        writer: DraftWriter | None = None,
    ) -> None:
        self.twin = twin
        self.state = SchedulerState(twin.warehouse.engine, twin.warehouse.writer)
        self.schedules = Schedules(twin.config.schedules, twin.warehouse.engine, self.state)
        self.runtime = JobRuntime(
            twin,
            self.state,
            notify=notify,
            training=training,
            retry=self.schedules.retry,
            writer=writer,
        )
        self.runtime.on_heartbeat = self._heartbeat
        self.refused: str | None = None  # why this process does not run the schedules

    async def start(self) -> str:
        """Run the schedules here if no other process does; what happened, in words."""
        sources = await asyncio.to_thread(self._sources)
        install(self.runtime)
        self.refused = self.schedules.start(sources)  # in the loop: the scheduler's home
        if self.refused is not None:
            install(None)
            log.warning("schedules not started: %s", self.refused)
            return f"not started: {self.refused}"
        jobs = [j for j in self.schedules.jobs() if j.kind != "heartbeat"]
        return f"{len(jobs)} jobs"

    async def stop(self) -> None:
        self.schedules.stop()
        install(None)

    async def run_now(self, ref: str) -> tuple[JobInfo, str]:
        """Run a job right away in this process (paused or not); what it said."""
        job = self.schedules.find(ref)
        return job, await self.runtime.run(job.kind, job.target)

    def _sources(self) -> list[str]:
        return [s.url for s in self.twin.warehouse.list_sources()]

    async def _heartbeat(self) -> None:
        sources = await asyncio.to_thread(self._sources)
        await asyncio.to_thread(self.schedules.heartbeat, sources)
