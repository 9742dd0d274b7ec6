"""Schedules with the real APScheduler and its real SQLAlchemy job store in the warehouse
database, real recrawls against a local server. No test waits on a wall-clock schedule:
jobs are run directly or made due now."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.config import load_config
from bot.schedules.jobs import job_id
from bot.schedules.service import ScheduleService
from bot.twin import Twin
from core.errors import ConfigError, InputError
from tests.http_server import LocalServer

Posted = list[tuple[str, str, "str | None"]]


def body(word: str) -> str:
    return " ".join(f"{word}{i % 7}" for i in range(90)) + "."


def feed_xml(server: LocalServer, posts: dict[str, str]) -> str:
    items = "".join(
        f"<item><title>{slug}</title><link>{server.url('/p/' + slug)}</link>"
        f"<content:encoded><![CDATA[<p>{text}</p>]]></content:encoded></item>"
        for slug, text in posts.items()
    )
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:content='
        '"http://purl.org/rss/1.0/modules/content/"><channel><title>Blog</title>'
        f"<link>{server.url('/')}</link>{items}</channel></rss>"
    )


class Blog:
    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.posts = {"alpha": body("apple")}
        self.fail = False
        self.url = server.route("/feed.xml", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        if self.fail:
            return web.Response(status=404, text="gone")
        return web.Response(
            text=feed_xml(self.server, self.posts), content_type="application/rss+xml"
        )


def make_twin(home: Path, **settings: Any) -> Twin:
    overrides = {"ingest.allow_private_networks": "true", "ingest.retries": "0", **settings}
    return Twin(load_config(overrides, home=home, env={}))


@pytest.fixture
async def blog(server: LocalServer) -> Blog:
    return Blog(server)


@pytest.fixture
async def twin(tmp_path: Path, blog: Blog) -> AsyncIterator[Twin]:
    twin = make_twin(tmp_path / "home", **{"schedules.report_to": '["telegram:42"]'})
    async with twin.ingestor() as ingestor:
        [result] = await ingestor.ingest([blog.url])
    assert result.ok and result.new == 1
    yield twin
    twin.close()


def recorder() -> tuple[Posted, Callable[[str, str, str | None], Any]]:
    posted: Posted = []

    async def notify(destination: str, text: str, draft_id: str | None) -> None:
        posted.append((destination, text, draft_id))

    return posted, notify


async def test_jobs_are_stored_and_survive_a_restart_paused_and_on_time(
    twin: Twin, blog: Blog, tmp_path: Path
) -> None:
    first = ScheduleService(twin)
    assert await first.start() == "3 jobs"
    ids = {j.id for j in first.schedules.jobs()}
    assert ids == {"heartbeat", job_id("recrawl", blog.url), "retrain", "retrain-check"}
    recrawl = first.schedules.find(blog.url)
    assert recrawl.trigger == "interval[6:00:00]" and recrawl.next_run is not None
    retrain = first.schedules.find("retrain")
    assert retrain.next_run is not None and retrain.next_run.weekday() == 6  # Sunday 03:00
    first.schedules.pause("retrain-check")
    await first.stop()

    again = make_twin(tmp_path / "home")  # a new process on the same database
    try:
        second = ScheduleService(again)
        await second.start()
        after = {j.id: j for j in second.schedules.jobs()}
        assert after["retrain-check"].paused  # a pause survives the restart
        # Unchanged jobs keep their stored next run: a restart does not push them back.
        assert after[recrawl.id].next_run == recrawl.next_run
        second.schedules.resume("retrain-check")
        assert not second.schedules.find("retrain-check").paused
        await second.stop()
    finally:
        again.close()


async def test_a_second_bot_on_the_same_database_does_not_run_the_schedules(
    twin: Twin, tmp_path: Path
) -> None:
    first = ScheduleService(twin)
    await first.start()
    other = make_twin(tmp_path / "home")
    try:
        second = ScheduleService(other)
        said = await second.start()
        assert said.startswith("not started: another bot (pid ")
        assert "runs the schedules for this database" in said
        assert not second.schedules.running
        await first.stop()  # the first lets go: the next one may take over
        assert await second.start() == "3 jobs"
        await second.stop()
    finally:
        other.close()


async def test_run_now_fires_the_real_recrawl(twin: Twin, blog: Blog) -> None:
    service = ScheduleService(twin)
    await service.start()
    try:
        blog.posts["beta"] = body("banana")
        job, said = await service.run_now(blog.url)
        assert job.kind == "recrawl" and "1 new" in said
        assert twin.warehouse.count_documents() == 2

        # Through the scheduler itself: the stored job, made due now, runs by reference.
        blog.posts["gamma"] = body("cherry")
        service.schedules.run_soon(blog.url)
        for _ in range(100):
            if twin.warehouse.count_documents() == 3:
                break
            await asyncio.sleep(0.1)
        assert twin.warehouse.count_documents() == 3
        assert "1 new" in service.runtime.last[job.id]
        assert service.schedules.find(blog.url).next_run is not None  # its schedule goes on
    finally:
        await service.stop()


async def test_a_failing_job_is_retried_and_reported_once(twin: Twin, blog: Blog) -> None:
    posted, notify = recorder()
    service = ScheduleService(twin, notify=notify)
    await service.start()
    try:
        blog.fail = True
        for _ in range(4):
            said = (await service.run_now(blog.url))[1]
            assert said.startswith("failed: ") and "404" in said
        ident = job_id("recrawl", blog.url)
        assert [p[0] for p in posted] == ["telegram:42"]  # once, after the third failure
        assert f"{ident} failed 3 times in a row" in posted[0][1] and "404" in posted[0][1]
        retry = service.schedules.scheduler.get_job(ident + ":retry")
        assert retry is not None and retry.next_run_time > datetime.now(UTC)
        assert twin.warehouse.count_documents() == 1  # nothing lost

        blog.fail = False
        await service.run_now(blog.url)
        assert len(posted) == 2 and "works again (after 4 failures)" in posted[1][1]
        assert service.state.failures() == {}
    finally:
        await service.stop()


async def test_a_job_that_raises_does_not_stop_the_scheduler(twin: Twin, blog: Blog) -> None:
    service = ScheduleService(twin)
    await service.start()
    try:
        twin.warehouse.forget(blog.url)  # the job's source is gone under it
        said = (await service.run_now(blog.url))[1]
        assert said.startswith("failed: ") and "not a known source" in said
        assert service.schedules.scheduler.running
        assert (await service.run_now("retrain-check"))[1].startswith("0 new documents")
    finally:
        await service.stop()


async def test_missed_runs_are_coalesced_into_one(twin: Twin, blog: Blog) -> None:
    service = ScheduleService(twin)
    await service.start()
    ident = job_id("recrawl", blog.url)
    runs: list[str] = []
    real = service.runtime.recrawl

    async def counted(source: str) -> str:
        runs.append(source)
        return await real(source)

    service.runtime._jobs["recrawl"] = counted
    try:
        # As if the bot had been down for three intervals: one run, not three.
        service.schedules.scheduler.modify_job(
            ident, next_run_time=datetime.now(UTC) - timedelta(hours=18) + timedelta(seconds=1)
        )
        service.schedules.scheduler.wakeup()
        for _ in range(100):
            if runs:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert runs == [blog.url]
        nxt = service.schedules.find(ident).next_run
        assert nxt is not None and nxt > datetime.now(UTC)
    finally:
        await service.stop()


async def test_control_names_jobs_by_id_or_source(twin: Twin, blog: Blog) -> None:
    service = ScheduleService(twin)
    await service.start()
    try:
        assert service.schedules.find("retrain-check").kind == "retrain-check"
        assert service.schedules.find(blog.url).kind == "recrawl"
        with pytest.raises(InputError, match="no such scheduled job; the jobs are: "):
            service.schedules.find("nope")
        with pytest.raises(InputError, match="matches several jobs"):
            service.schedules.find("train")  # retrain and retrain-check
        assert service.schedules.find("retrain").id == "retrain"  # an exact id wins
        service.schedules.pause(blog.url)
        with pytest.raises(InputError, match="paused; resume it first"):
            service.schedules.run_soon(blog.url)
    finally:
        await service.stop()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("schedules.digest_cron", "0 25 * * *", "schedules.digest_cron must be a cron line"),
        ("schedules.retrain_cron", "every sunday", "schedules.retrain_cron must be a cron line"),
        ("schedules.recrawl_every", "6 hours", "schedules.recrawl_every must be a duration"),
        ("schedules.recrawl_every", "10s", "schedules.recrawl_every must be at least 1 minute"),
        ("schedules.recrawl_overrides", '["https://x.com/feed"]', "SOURCE=DURATION"),
        ("schedules.digest_to", '["discord:1"]', "telegram:<chat id> or slack:<channel id>"),
        ("schedules.timezone", "Mars/Olympus", "schedules.timezone must be a time zone"),
    ],
)
def test_bad_schedules_are_refused_at_config_load(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config({key: value}, env={})


def test_cron_weekdays_count_from_sunday_as_in_crontab() -> None:
    from bot.schedules.triggers import cron_trigger

    monday = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday
    for line, day in (("0 3 * * 0", "Sun"), ("0 3 * * 7", "Sun"), ("0 9 * * 1", "Mon")):
        trigger = cron_trigger(line, "k", "UTC")
        assert trigger is not None
        assert trigger.get_next_fire_time(None, monday + timedelta(hours=10)).strftime("%a") == day
    trigger = cron_trigger("0 9 * * 6-7", "k", "UTC")
    assert trigger is not None and "day_of_week='sat-sun'" in str(trigger)


async def test_chat_commands_list_pause_resume_and_run(twin: Twin, blog: Blog) -> None:
    from bot.chat.commands import parse
    from bot.schedules.control import schedule_command

    assert parse("pause retrain").name == "pause" and parse("/run retrain").text == "retrain"
    assert "Schedules are off" in await schedule_command(None, "schedules", "")
    service = ScheduleService(twin)
    await service.start()
    try:
        listing = await schedule_command(service, "schedules", "")
        assert f"recrawl:{blog.url}: next in 6.0 h" in listing and "retrain: next Sun" in listing
        assert "heartbeat" not in listing
        assert await schedule_command(service, "pause", blog.url) == f"Paused recrawl:{blog.url}."
        assert f"recrawl:{blog.url}: paused (every 6:00:00)" in await schedule_command(
            service, "schedules", ""
        )
        assert await schedule_command(service, "resume", "recrawl") == (
            f"Resumed recrawl:{blog.url}."
        )
        blog.posts["beta"] = body("banana")
        said = await schedule_command(service, "run", blog.url)
        assert said.startswith(f"recrawl:{blog.url}: ✓") and "1 new" in said
        with pytest.raises(InputError, match="say which job"):
            await schedule_command(service, "pause", " ")
    finally:
        await service.stop()


def test_the_cli_lists_pauses_and_runs_jobs(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bot.cli.main import cli
    from bot.schedules.state import SchedulerState

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "one.md").write_text(f"# One\n\n{body('oak')}\n")
    home = ["--home", str(tmp_path / "home")]

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, [*home, *args], catch_exceptions=False)
        return result.exit_code, result.output

    assert run("ingest", str(notes))[0] == 0
    code, listing = run("schedules")
    assert code == 0 and "(no bot is running them)" in listing
    assert f"recrawl:{notes.resolve().as_uri()}: next in 6.0 h" in listing
    assert run("schedules", "pause", "retrain-check") == (0, "paused retrain-check\n")
    assert "retrain-check: paused" in run("schedules", "list")[1]

    (notes / "two.md").write_text(f"# Two\n\n{body('elm')}\n")
    code, said = run("schedules", "run", str(notes.resolve().as_uri()))
    assert code == 0 and "1 new, 1 unchanged" in said

    # A bot holds the schedules: `run` leaves the job to it, due now.
    twin = make_twin(tmp_path / "home")
    try:
        state = SchedulerState(twin.warehouse.engine)
        assert state.acquire("pid 1 on elsewhere") is None
        code, said = run("schedules", "run", "retrain")
        assert code == 0 and "due now; the running bot (pid 1 on elsewhere)" in said
    finally:
        twin.close()
    code, output = run("schedules", "pause")
    assert code == 2 and "needs a JOB" in output


async def test_enough_new_writing_retrains_in_a_child_and_reports(
    twin: Twin, blog: Blog, tmp_path: Path
) -> None:
    import sys
    from dataclasses import replace

    from tests.training.test_jobs import STAND_IN
    from training.jobs import TrainingJobs

    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    seen = tmp_path / "ok.args"
    command = [sys.executable, str(script), twin.config.warehouse_url, "ok", str(seen)]
    posted, notify = recorder()
    training = TrainingJobs(twin.training_context(), command=command)
    service = ScheduleService(twin, notify=notify, training=training)
    await service.start()
    try:
        said = (await service.run_now("retrain-check"))[1]
        assert said == "1 new documents since the active model; retraining at 20"
        assert posted == []  # below the threshold: nothing started, nothing said

        service.runtime.config = replace(service.runtime.config, retrain_min_new_documents=1)
        said = (await service.run_now("retrain-check"))[1]
        assert said.startswith("✅ Training finished: run ")
        assert seen.read_text() == "--events"  # a real child process ran the trainer
        assert [p[0] for p in posted] == ["telegram:42", "telegram:42"]
        assert posted[0][1].startswith("🏋️ Retraining on 1 new documents")
        assert "is now the active model" in posted[1][1]
        active = twin.models.active()
        assert active is not None  # the stand-in promoted its run
        # Nothing new since that model: the weekly run has nothing to train on.
        assert (await service.run_now("retrain"))[1].startswith("no new documents since")
    finally:
        await service.stop()


async def test_per_source_overrides_and_config_changes_replace_only_what_changed(
    twin: Twin, blog: Blog, tmp_path: Path
) -> None:
    service = ScheduleService(twin)
    await service.start()
    before = service.schedules.find("retrain")
    await service.stop()
    for override, trigger in (
        (f"{blog.url}=1d", "interval[1 day, 0:00:00]"),
        (f"{blog.url}=off", None),
    ):
        changed = make_twin(tmp_path / "home", **{"schedules.recrawl_overrides": f'["{override}"]'})
        try:
            again = ScheduleService(changed)
            await again.start()
            jobs = {j.id: j for j in again.schedules.jobs()}
            recrawl = jobs.get(job_id("recrawl", blog.url))
            assert (recrawl.trigger if recrawl else None) == trigger
            assert jobs["retrain"].next_run == before.next_run  # untouched
            await again.stop()
        finally:
            changed.close()
