"""The chat commands over the schedules: `schedules`, `pause JOB`, `resume JOB`, `run JOB`."""

from __future__ import annotations

import asyncio

from bot.schedules.listing import describe_jobs
from bot.schedules.service import ScheduleService
from core.errors import InputError

__all__ = ["schedule_command"]


async def schedule_command(service: ScheduleService | None, name: str, ref: str) -> str:
    if service is None:
        return "Schedules are off here (schedules.enabled is false, or the bot runs without them)."
    if service.refused is not None:
        return f"Schedules do not run in this bot: {service.refused}."
    schedules = service.schedules
    if name == "schedules":
        failures = await asyncio.to_thread(service.state.failures)
        return describe_jobs(schedules.jobs(), failures)
    if not ref.strip():
        raise InputError(name, f"say which job, e.g. {name} retrain; `schedules` lists them")
    if name == "pause":
        return f"Paused {schedules.pause(ref.strip()).id}."
    if name == "resume":
        return f"Resumed {schedules.resume(ref.strip()).id}."
    job, said = await service.run_now(ref.strip())
    return f"{job.id}: {said}"
