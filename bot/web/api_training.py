"""Training and models: build the dataset, start, follow and cancel a run, the runs with
their evaluation, activating a run (or the base model), and the models on disk.

A run is the same child process the chat's `train` starts (training/jobs.py, one at a
time, shared with the chat and the schedules), so the page follows a run whoever
started it. Activating swaps the model in at once, as the chat's `models activate` does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.web import sse
from bot.web.bad_input import ApiError, bool_field, int_field, json_object, text_field
from bot.web.context import WebContext
from core.errors import InputError, TwinError
from model import hub
from training.dataset_build import build_dataset
from training.eval_report import METRICS, EvalReport
from training.events import TrainingDone, TrainingMessage
from training.jobs import TrainingBusy, TrainingJob
from training.lora import Progress
from training.registry import RUNNING, Run
from training.run import TrainOptions

log = logging.getLogger(__name__)


def add_routes(app: web.Application, context: WebContext) -> None:
    api = _Training(context)
    app.router.add_post("/api/dataset", api.dataset)
    app.router.add_post("/api/training", api.start)
    app.router.add_get("/api/training", api.state)
    app.router.add_get("/api/training/events", api.events)
    app.router.add_post("/api/training/cancel", api.cancel)
    app.router.add_get("/api/runs", api.runs)
    app.router.add_post("/api/models/activate", api.activate)
    app.router.add_get("/api/models/available", api.available)


class _Training:
    def __init__(self, context: WebContext) -> None:
        self.context = context
        self.jobs = context.handler.training

    async def dataset(self, request: web.Request) -> web.StreamResponse:
        return await sse.stream(request, self._build())

    async def _build(self) -> AsyncIterator[sse.Event]:
        yield {"type": "say", "text": "Building the dataset from your writing…"}
        try:
            built = await build_dataset(self.context.twin.training_context())
        except TwinError as exc:
            yield {"type": "error", "text": f"⚠️ {exc}"}
            return
        stats = built.stats
        lines = [
            f"{stats.train_examples} train and {stats.test_examples} test examples from "
            f"{stats.documents_used} of {stats.documents_seen} documents",
            *(f"excluded: {n} {why}" for why, n in stats.excluded.items()),
            f"saved to {built.folder}",
        ]
        yield {"type": "say", "text": "\n".join(lines)}
        yield {"type": "dataset", "folder": str(built.folder), **stats.to_json()}

    async def start(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        steps = int_field(body, "steps", minimum=1, maximum=1_000_000)
        options = TrainOptions(max_steps=steps, dpo=bool_field(body, "dpo"))
        try:
            job = await self.jobs.start(options)
        except TrainingBusy as exc:
            raise ApiError(409, str(exc)) from exc
        return web.json_response({"started": True, "pid": job.pid, "run_id": None})

    async def state(self, _: web.Request) -> web.Response:
        job = self.jobs.last
        running = self.jobs.current is not None
        run_id = await self._run_id(job) if job is not None else None
        return web.json_response(
            {
                "running": running,
                "run_id": run_id,
                "started_at": job.started_at.isoformat() if job else None,
                "progress": _progress(job.progress) if job and job.progress else None,
                "where": job.where() if job else None,
                "losses": [list(point) for point in job.losses] if job else [],
                "messages": list(job.messages) if job else [],
                "outcome": _outcome(job.outcome) if job and job.outcome else None,
            }
        )

    async def events(self, request: web.Request) -> web.StreamResponse:
        return await sse.stream(request, self._follow())

    async def _follow(self) -> AsyncIterator[sse.Event]:
        job = self.jobs.current
        if job is None:
            yield {"type": "idle", "text": await self.jobs.status_text()}
            return
        if job.progress is not None:
            yield _progress(job.progress)
        async for update in job.updates():
            if isinstance(update, Progress):
                yield _progress(update)
            elif isinstance(update, TrainingMessage):
                yield {"type": "say", "text": update.text}
            else:
                yield _outcome(update)

    async def cancel(self, _: web.Request) -> web.Response:
        job = await self.jobs.cancel("cancelled from the web page")
        return web.json_response({"cancelled": job is not None})

    async def runs(self, _: web.Request) -> web.Response:
        models = self.context.twin.models
        runs = await asyncio.to_thread(models.runs, 50)
        active = await asyncio.to_thread(models.active)
        active_id = active.id if active else None
        listed = [
            {**run.to_json(), "active": run.id == active_id, "eval": await _eval(run)}
            for run in runs
        ]
        return web.json_response(listed)

    async def activate(self, request: web.Request) -> web.Response:
        target = text_field(await json_object(request), "run")
        models = self.context.twin.models
        try:
            run = await asyncio.to_thread(models.activate, None if target == "base" else target)
        except InputError as exc:
            known = await asyncio.to_thread(models.get, target)
            raise ApiError(404 if known is None else 409, str(exc), key="run") from exc
        swapped = await self.context.twin.follow_active_model()
        active = run.id if run else "base"
        now = " New drafts use it now." if swapped else ""
        return web.json_response(
            {"active": active, "swapped": swapped, "message": f"Active model: {active}.{now}"}
        )

    async def available(self, _: web.Request) -> web.Response:
        config = self.context.config
        found = await asyncio.to_thread(hub.available, config.model, config.model_cache_dir)
        return web.json_response(
            [
                {
                    "name": m.name,
                    "path": str(m.path),
                    "size_bytes": m.size,
                    "kind": "gguf" if m.path.suffix == ".gguf" else "hf",
                    "where": m.where,
                    "setting": m.setting,
                    "configured": m.configured,
                }
                for m in found
            ]
        )

    async def _run_id(self, job: TrainingJob) -> str | None:
        """The run a job registered (the newest since it started)."""
        if job.options.resume:
            return job.options.resume
        if job.outcome is not None:
            return job.outcome.run.id if job.outcome.run else None
        since = job.started_at - timedelta(seconds=1)
        runs = await asyncio.to_thread(self.context.twin.models.runs, 5)
        mine = [r for r in runs if r.created_at >= since and r.status == RUNNING]
        return mine[0].id if mine else None


def _progress(progress: Progress) -> dict[str, Any]:
    return {"type": "progress", **progress.to_json(), "line": progress.line()}


def _outcome(done: TrainingDone) -> dict[str, Any]:
    return {
        "type": "done",
        "status": done.status,
        "run_id": done.run.id if done.run else None,
        "promoted": done.promoted,
        "swapped": done.swapped,
        "error": done.error,
        "summary": done.summary(),
    }


async def _eval(run: Run) -> dict[str, Any] | None:
    """A run's evaluation: the models compared, one row per metric, the markdown table,
    a few samples side by side and the promotion decision (None before it has one)."""
    folder = run.paths.get("eval")
    if not folder or not (Path(folder) / "eval.json").is_file():
        return None
    try:
        report = await asyncio.to_thread(EvalReport.load, Path(folder))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.warning("run %s: cannot read its evaluation: %s", run.id, exc)
        return None
    rows = [
        {
            "metric": metric,
            "values": {m: report.metrics.get(m, {}).get(metric) for m in report.models},
            "owner": report.owner.get(metric),
        }
        for metric in METRICS
    ]
    return {
        "models": report.models,
        "rows": rows,
        "table": report.table(),
        "samples": [vars(s) for s in report.samples[:5]],
        "promotion": report.promotion,
        "voice": report.voice,
    }
