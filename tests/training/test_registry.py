"""The model registry on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from core.errors import InputError
from ingest.warehouse.store import Warehouse
from training.registry import FAILED, RUNNING, TRAINED, Registry


@pytest.fixture
def registry(warehouse_url: str) -> Registry:
    return Registry(Warehouse(warehouse_url))


def start(registry: Registry, run_id: str) -> str:
    return registry.start(
        base_model="/models/smol",
        dataset_hash="abc123",
        dataset_folder="/data/abc123",
        config={"training": {"lora_rank": 8}},
        run_id=run_id,
    ).id


def test_a_run_goes_from_running_to_trained_with_its_paths_and_metrics(
    registry: Registry,
) -> None:
    run_id = start(registry, "r1")
    run = registry.require(run_id)
    assert run.status == RUNNING and run.stage == "sft" and run.config["training"]["lora_rank"] == 8
    registry.add_paths(run_id, adapter="/runs/r1/adapter")
    registry.add_paths(run_id, merged="/runs/r1/merged")
    registry.add_metrics(run_id, {"sft": {"steps": 3}})
    registry.finish(run_id)
    run = registry.require(run_id)
    assert run.status == TRAINED and run.finished_at is not None and run.pid is None
    assert run.paths == {"adapter": "/runs/r1/adapter", "merged": "/runs/r1/merged"}
    assert run.metrics == {"sft": {"steps": 3}}
    assert registry.latest() == run


def test_only_a_trained_run_is_activated_and_base_is_none(registry: Registry) -> None:
    assert registry.active() is None
    running = start(registry, "r1")
    with pytest.raises(InputError, match="this run is running, not trained"):
        registry.activate(running)
    with pytest.raises(InputError, match="no such training run"):
        registry.activate("nope")
    done = start(registry, "r2")
    registry.finish(done)
    registry.activate(done)
    active = registry.active()
    assert active is not None and active.id == "r2"
    registry.activate(None)
    assert registry.active() is None


def test_a_run_whose_process_died_is_marked_failed_never_left_running(
    registry: Registry,
) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    run_id = start(registry, "r1")
    registry.update(run_id, pid=int(dead.stdout))
    alive = start(registry, "r2")  # this process: alive
    assert [r.id for r in registry.runs()] == ["r2", "r1"]  # newest first; reaps
    assert registry.require(run_id).status == FAILED
    assert "ended without finishing" in (registry.require(run_id).error or "")
    assert registry.require(alive).status == RUNNING
    assert registry.latest() is None  # nothing trained to serve


def test_a_failed_run_resumes_but_a_trained_one_does_not(registry: Registry) -> None:
    run_id = start(registry, "r1")
    registry.fail(run_id, "interrupted; resume with `llm-twin train --resume r1`")
    failed = registry.require(run_id)
    assert failed.status == FAILED and "resume" in (failed.error or "")
    resumed = registry.resume(run_id)
    assert resumed.status == RUNNING and resumed.error is None and resumed.pid is not None
    with pytest.raises(InputError, match="still running"):
        registry.resume(run_id)
    registry.finish(run_id)
    with pytest.raises(InputError, match="finished already"):
        registry.resume(run_id)


def test_two_registries_on_one_database_see_each_others_activation(
    warehouse_url: str,
) -> None:
    trainer, bot = Registry(Warehouse(warehouse_url)), Registry(Warehouse(warehouse_url))
    run_id = start(trainer, "r1")
    trainer.finish(run_id)
    trainer.activate(run_id)
    active = bot.active()
    assert active is not None and active.id == "r1" and active.base_model == "/models/smol"
