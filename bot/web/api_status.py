"""What the page shows around everything else: the status line (counts, the model in
words, first-run and demo-model flags, training), the schedules and their controls, and
the owner's style profile."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from bot.schedules.control import schedule_command
from bot.schedules.listing import schedule_words
from bot.web.bad_input import ApiError
from bot.web.context import WebContext
from core.errors import InputError
from model.naming import model_json
from model.prompts import FORMATS
from training.registry import RUNNING

SCHEDULE_ACTIONS = ("pause", "resume", "run")


def add_routes(app: web.Application, context: WebContext) -> None:
    api = _Status(context)
    app.router.add_get("/api/status", api.status)
    app.router.add_get("/api/schedules", api.schedules)
    app.router.add_get("/api/style", api.style)
    app.router.add_post(
        "/api/schedules/{name:.+}/{action:" + "|".join(SCHEDULE_ACTIONS) + "}", api.control
    )


class _Status:
    def __init__(self, context: WebContext) -> None:
        self.context = context

    async def status(self, _: web.Request) -> web.Response:
        twin = self.context.twin
        config = self.context.config
        worker = await twin.model_worker()
        generator = worker.generator
        documents = await asyncio.to_thread(twin.warehouse.count_documents)
        sources = await asyncio.to_thread(twin.warehouse.list_sources)
        chunks = await asyncio.to_thread(lambda: twin.index.count())
        training = self.context.handler.training.current
        run_id = None
        if training is not None:
            latest = await asyncio.to_thread(twin.models.runs, 1)
            run_id = latest[0].id if latest and latest[0].status == RUNNING else None
        owner = config.owner
        return web.json_response(
            {
                "documents": documents,
                "chunks": chunks,
                "sources": len(sources),
                "model": model_json(generator.model_id, generator.backend, generator.model_version),
                "owner": {"name": owner.name, "names": list(owner.names), "bio": owner.bio},
                "first_run": documents == 0,
                "training": {"running": training is not None, "run_id": run_id},
                "drafting": {"format": config.drafting.format, "formats": list(FORMATS)},
                "queue": {"generating": worker.active, "queued": worker.queued()},
            }
        )

    async def style(self, _: web.Request) -> web.Response:
        """The owner's style profile (model/style.py): overall and per platform, with the
        guidance lines drafts get; `owner_names` empty says Settings must name the owner."""
        twin = self.context.twin
        profile = await asyncio.to_thread(twin.style_profile)
        names = list(self.context.config.owner.author_names)
        return web.json_response({**profile.to_json(), "owner_names": names})

    async def schedules(self, _: web.Request) -> web.Response:
        service = self.context.handler.schedules
        if service is None or service.refused is not None:
            reason = (
                "schedules are off here (schedules.enabled is false)"
                if service is None
                else f"another process runs them: {service.refused}"
            )
            return web.json_response({"running": False, "reason": reason, "jobs": []})
        # In step with the sources now, not at the next heartbeat: a source just added
        # shows its recrawl job.
        sources = await asyncio.to_thread(self.context.twin.warehouse.list_sources)
        await asyncio.to_thread(service.schedules.sync, [s.url for s in sources])
        failures = await asyncio.to_thread(service.state.failures)
        jobs: list[dict[str, Any]] = []
        for job in service.schedules.jobs():
            if job.kind == "heartbeat":
                continue
            failure = failures.get(job.id.removesuffix(":retry"))
            jobs.append(
                {
                    "name": job.id,
                    "kind": job.kind,
                    "target": job.target,
                    "schedule": schedule_words(job),
                    "next_run_at": job.next_run.isoformat() if job.next_run else None,
                    "paused": job.paused,
                    "retry": job.retry,
                    "last_result": service.runtime.last.get(job.id),
                    "failures": failure.failures if failure else 0,
                    "last_error": failure.last_error if failure else None,
                }
            )
        return web.json_response({"running": True, "reason": None, "jobs": jobs})

    async def control(self, request: web.Request) -> web.Response:
        name = unquote(request.match_info["name"])
        action = request.match_info["action"]
        service = self.context.handler.schedules
        if service is None or service.refused is not None:
            raise ApiError(409, await schedule_command(service, action, name))
        try:
            message = await schedule_command(service, action, name)
        except InputError as exc:
            known = any(name in (j.id, j.target) for j in service.schedules.jobs())
            raise ApiError(409 if known else 404, str(exc), key="name") from exc
        return web.json_response({"message": message})
