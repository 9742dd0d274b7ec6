"""The web API's status line and schedules against a real `serve`: the model named in
words with its backend, version and demo flag, the first-run flag, and the scheduled jobs
(a source's recrawl among them) paused, resumed and run from the page."""

from __future__ import annotations

from urllib.parse import quote

from model.hf import HfGenerator
from tests.bot.web.api_client import api_of
from tests.http_server import ThreadedServer
from tests.serve_support import running_serve


async def test_status_and_the_schedules(smol: HfGenerator, threaded_server: ThreadedServer) -> None:
    page = threaded_server.fixture_page("lemire.me.json.html")
    with running_serve(smol) as srv:
        async with api_of(srv) as api:
            status = await api.json("GET", "/api/status")
            assert status["model"] == {
                "name": "SmolLM2-135M-Instruct (bundled demo model, GGUF)",
                "backend": "hf",
                "version": "base",
                "demo": True,
                "path": smol.model_id,
            }
            assert status["first_run"] is True and status["documents"] == 0
            assert status["owner"] == {"name": "Sam Rivera", "names": [], "bio": ""}
            assert status["training"] == {"running": False, "run_id": None}
            assert status["queue"] == {"generating": 0, "queued": 0}

            await api.events("POST", "/api/sources", {"url": page})
            schedules = await api.json("GET", "/api/schedules")
            assert schedules["running"] is True and schedules["reason"] is None
            jobs = {job["name"]: job for job in schedules["jobs"]}
            recrawl = f"recrawl:{page}"
            assert recrawl in jobs and "retrain-check" in jobs
            assert jobs[recrawl]["schedule"].startswith("every ")
            assert jobs[recrawl]["next_run_at"] and not jobs[recrawl]["paused"]

            # A job named by a URL travels encoded in the path.
            control = f"/api/schedules/{quote(recrawl, safe='')}"
            answer = await api.json("POST", f"{control}/pause", {})
            assert answer == {"message": f"Paused {recrawl}."}
            jobs = {j["name"]: j for j in (await api.json("GET", "/api/schedules"))["jobs"]}
            assert jobs[recrawl]["paused"] is True and jobs[recrawl]["next_run_at"] is None
            assert (await api.json("POST", f"{control}/resume", {}))["message"] == (
                f"Resumed {recrawl}."
            )
            answer = await api.json("POST", "/api/schedules/retrain-check/run", {})
            assert answer["message"].startswith("retrain-check: ")
            jobs = {j["name"]: j for j in (await api.json("GET", "/api/schedules"))["jobs"]}
            assert jobs["retrain-check"]["last_result"] == answer["message"].split(": ", 1)[1]

            reason = await api.error("POST", "/api/schedules/nope/run", {}, status=404)
            assert reason.startswith("nope: no such scheduled job; the jobs are:")
            assert "no such API route" in await api.error(
                "POST", "/api/schedules/retrain-check/explode", {}, status=404
            )


async def test_with_schedules_off_the_page_is_told_why(smol: HfGenerator) -> None:
    with running_serve(smol, {"schedules.enabled": "false"}) as srv:
        async with api_of(srv) as api:
            schedules = await api.json("GET", "/api/schedules")
            assert schedules == {
                "running": False,
                "reason": "schedules are off here (schedules.enabled is false)",
                "jobs": [],
            }
            reason = await api.error("POST", "/api/schedules/digest/run", {}, status=409)
            assert reason.startswith("Schedules are off here")
