"""Sources through the real `llm-twin` command line: platform exports, GitHub (against the
API emulator, configured only through --set and the environment), `recrawl` and
`sources`."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.cli.main import cli
from tests.fixtures.exports import medium_members, write_zip, x_members
from tests.github_emulator import GitHubEmulator, Repo
from tests.ingest.test_github import ANN, KEPT, TOOLS_FILES
from tests.linkedin_emulator import LinkedInEmulator

LOOPBACK = ["--set", "ingest.allowed_networks=127.0.0.1/32"]


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*LOOPBACK, *args], env=env, catch_exceptions=False)
    return result.exit_code, result.output


@contextmanager
def in_thread(server: GitHubEmulator | LinkedInEmulator) -> Iterator[None]:
    """An emulator on its own loop in a thread (the CLI runs `asyncio.run` itself)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    try:
        yield
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def github() -> Iterator[GitHubEmulator]:
    emulator = GitHubEmulator()
    emulator.add_repo(Repo("ann", "tools", dict(TOOLS_FILES)))
    emulator.add_repo(Repo("ann", "notes", {"README": b"Notes on tools and testing.\n"}))
    with in_thread(emulator):
        yield emulator


@pytest.fixture
def linkedin() -> Iterator[LinkedInEmulator]:
    emulator = LinkedInEmulator()
    with in_thread(emulator):
        yield emulator


def sources_json() -> list[dict[str, Any]]:
    code, output = run("sources", "--json")
    assert code == 0, output
    rows: list[dict[str, Any]] = json.loads(output)
    return rows


def test_an_export_is_imported_recrawled_and_listed_with_its_owner(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "twitter-2024.zip", x_members())

    code, output = run("ingest", str(archive))
    assert code == 0, output
    assert f"✓ {archive.resolve().as_uri()}: 3 new" in output
    assert "note: 1 retweet skipped" in output and "note: 3 tweets joined into 1 thread" in output
    [source] = sources_json()
    assert (source["owner"], source["platform"], source["documents"]) == ("Ann Lee", "x", 3)

    code, output = run("recrawl")
    assert code == 0, output
    assert "3 documents unchanged, not modified since the last crawl" in output
    assert "1 source checked: nothing new" in output
    assert "nothing new (3 documents unchanged" in output

    code, output = run("search", "rollback", "--json", "--alpha", "0")
    hits = json.loads(output)
    assert hits and hits[0]["platform"] == "x" and "Write the rollback first." in hits[0]["text"]


def test_an_export_of_another_kind_than_claimed_is_refused(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "medium.zip", medium_members())
    damaged = tmp_path / "linkedin.zip"
    damaged.write_bytes(archive.read_bytes()[:200])

    code, output = run("ingest", "--as", "linkedin", str(archive), str(damaged))

    assert code == 1
    lines = sorted(line for line in output.splitlines() if line.startswith("✗"))
    assert len(lines) == 2, output  # inputs run at once: sorted, linkedin.zip comes first
    assert "not a zip file (or it is damaged): download the export again" in lines[0]
    assert "not a LinkedIn data export" in lines[1] and "Medium" in lines[1]
    assert sources_json() == []  # nothing half-imported, no source left behind

    code, output = run("ingest", "--as", "kindle", str(archive))
    assert code == 2 and "'kindle' is not one of 'linkedin', 'medium', 'substack', 'x'" in output


def test_github_through_config_and_environment(
    github: GitHubEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"TWIN_GITHUB__TOKEN": "t0ken"}
    api = ["--set", f"github.api_url={github.url()}", "--set", "ingest.retries=0"]

    code, output = run(*api, "ingest", ANN, env=env)
    assert code == 0, output
    assert f"✓ {ANN}: {len(KEPT) + 1} new" in output
    requests = [r for r in github.requests if r.path.startswith("/repos/")]
    assert requests and all(r.headers.get("Authorization") == "Bearer t0ken" for r in requests)
    [source] = sources_json()
    assert (source["owner"], source["platform"]) == ("ann", "github")

    github.push(github.repos["ann/notes"], {"README": b"Notes on tools, testing and tea.\n"})
    code, output = run(*api, "recrawl", ANN, env=env)
    assert code == 0, output
    assert f"✓ {ANN}: 1 changed, {len(KEPT)} unchanged" in output


def test_github_without_a_token_names_the_variable_when_the_limit_is_hit(
    github: GitHubEmulator,
) -> None:
    github.remaining[""] = 2  # GitHub's 60 an hour without a token, nearly run out
    api = ["--set", f"github.api_url={github.url()}", "--set", "ingest.retries=0"]
    code, output = run(*api, "ingest", ANN, env={"TWIN_GITHUB__TOKEN": ""})
    assert code == 1
    assert "GitHub API rate limit reached" in output and "TWIN_GITHUB__TOKEN" in output
    assert sources_json() == []


def test_a_linkedin_secret_in_the_config_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[linkedin]\ncookies = "li_at=abc"\n')
    code, output = run("--config", str(config), "sources")
    assert code == 2
    assert "linkedin.cookies looks like a secret" in output
    assert "TWIN_LINKEDIN__COOKIES" in output


def test_linkedin_live_through_config_and_environment(linkedin: LinkedInEmulator) -> None:
    ann = linkedin.member("ann-lee", "Ann", "Lee")
    bo = linkedin.member("bo-guest", "Bo", "Guest")
    start = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
    linkedin.post(ann, "Why I write every morning.\n\nIt clears my head.", start)
    theirs = linkedin.post(bo, "Queues are the answer. What was the question?", start)
    linkedin.repost(ann, theirs, start + timedelta(days=1))
    li_at, jsessionid = linkedin.session(ann)
    env = {"TWIN_LINKEDIN__COOKIES": f'li_at={li_at}; JSESSIONID="{jsessionid}"'}
    api = ["--set", f"linkedin.base_url={linkedin.url('')}"]
    api += ["--set", "linkedin.pacing_min=0", "--set", "linkedin.pacing_max=0"]
    profile = "https://www.linkedin.com/in/ann-lee/"

    code, output = run(*api, "ingest", profile, env=env)
    assert code == 0, output
    assert f"✓ {profile}: 2 new" in output
    [source] = sources_json()
    assert (source["owner"], source["platform"]) == ("Ann Lee", "linkedin")

    linkedin.post(ann, "Notes on the analytical engine.", start + timedelta(days=2))
    code, output = run(*api, "recrawl", env=env)
    assert code == 0, output
    assert f"✓ {profile}: 1 new, 2 unchanged" in output

    linkedin.sign_out_everyone()  # the cookies expired
    code, output = run(*api, "recrawl", env=env)
    assert code == 1
    [line] = [line for line in output.splitlines() if line.startswith("✗")]
    assert "Basic_LinkedInDataExport.zip" in line  # the way in that always works

    code, output = run(*api, "ingest", profile, env={"TWIN_LINKEDIN__COOKIES": ""})
    assert code == 1 and "TWIN_LINKEDIN__COOKIES" in output


def test_recrawl_and_schedules_refuse_what_they_do_not_know(tmp_path: Path) -> None:
    code, output = run("recrawl")
    assert code == 0 and "no sources yet" in output
    archive = write_zip(tmp_path / "x.zip", x_members())
    assert run("ingest", str(archive))[0] == 0

    code, output = run("recrawl", "https://example.com/never-added")
    assert code == 2
    assert "not a known source; `llm-twin sources` lists them" in output
    code, output = run("schedules", "run", "nope")
    assert code == 2 and "no such scheduled job; the jobs are: " in output
    assert f"recrawl:{archive.resolve().as_uri()}" in output
    code, output = run("--set", "schedules.digest_cron=0 25 * * *", "schedules")
    assert code == 2 and "schedules.digest_cron must be a cron line" in output
    [source] = sources_json()
    assert source["documents"] == 3 and source["status"] == "ok"  # nothing touched
