"""`llm-twin schedules [list|pause JOB|resume JOB|run JOB]`: the stored schedules, from the
command line, whether or not a bot is running them."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

import click

from bot.cli.context import LazyTwin

if TYPE_CHECKING:
    from bot.schedules.service import ScheduleService
    from bot.twin import Twin


@click.command("schedules")
@click.argument("action", type=click.Choice(["list", "pause", "resume", "run"]), default="list")
@click.argument("job", required=False, metavar="[JOB]")
@click.pass_obj
def schedules(lazy: LazyTwin, action: str, job: str | None) -> None:
    """List the scheduled jobs (recrawls, retraining, digests) with their next run, or
    pause, resume or run one now. JOB is a job id as listed, or a source's url.

    Pauses last across restarts. `run` runs the job here when no bot is running the
    schedules; otherwise the running bot runs it within 30 seconds."""
    if action != "list" and not job:
        raise click.UsageError(f"`schedules {action}` needs a JOB; `llm-twin schedules` lists them")
    with lazy.twin() as twin:
        click.echo(asyncio.run(_act(twin, action, job or "")))


async def _act(twin: Twin, action: str, ref: str) -> str:
    from bot.schedules.listing import describe_jobs
    from bot.schedules.service import ScheduleService

    service = ScheduleService(twin)
    schedules = service.schedules
    holder = service.state.holder()
    schedules.open_paused()  # the stored jobs, none of them run by this process
    try:
        if holder is None:  # the running bot keeps its own jobs in step with its config
            schedules.sync([s.url for s in twin.warehouse.list_sources()])
        if action == "list":
            runs = f"run by the bot ({holder.holder})" if holder else "no bot is running them"
            listing = describe_jobs(schedules.jobs(), service.state.failures())
            return f"{listing}\n({runs})"
        if action == "pause":
            return f"paused {schedules.pause(ref).id}"
        if action == "resume":
            return f"resumed {schedules.resume(ref).id}"
        if holder is not None:
            found = schedules.run_soon(ref)
            return f"{found.id}: due now; the running bot ({holder.holder}) runs it shortly"
    finally:
        schedules.stop()
    return await _run_here(service, ref)


async def _run_here(service: ScheduleService, ref: str) -> str:
    """No bot runs the schedules: take the lease for the run, so none starts meanwhile."""
    job = service.schedules.find(ref)
    if job.kind == "digest":
        click.echo(
            f"error: {job.id}: digests are posted by the running bot's chat adapters; start"
            " `llm-twin serve`, or say `run digest` in chat",
            err=True,
        )
        sys.exit(2)
    refused = service.state.acquire(service.schedules.holder)
    if refused is not None:
        return f"{job.id}: not run: {refused.holder} started running the schedules meanwhile"
    try:
        said = await service.runtime.run(job.kind, job.target)
    finally:
        service.state.release(service.schedules.holder)
    return f"{job.id}: {said}"
