"""The web API's training and models against a real `serve` and a real short run of the
bundled SmolLM2 (the same child process the chat's `train` starts): a new owner's dataset
build says to set owner.names, Settings sets them, the dataset builds, a run is started,
followed live to its end, listed with its evaluation and activated; bad input refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.config import load_config
from bot.twin import Twin
from model.hf import HfGenerator
from tests.bot.web.api_client import api_of
from tests.chat_support import SAMPLE, SHORT_DRAFTS
from tests.serve_support import running_serve

# Small and quick (as tests/e2e/test_cli_train.py trains), through the environment, so
# the trainer child process gets them too.
SMALL_TRAINING = {
    "LORA_RANK": "8",
    "BATCH_SIZE": "2",
    "GRAD_ACCUM": "1",
    "LEARNING_RATE": "0.001",
    "MAX_SEQ_LEN": "256",
    "MAX_ANSWER_TOKENS": "192",
    "GRADIENT_CHECKPOINTING": "false",
    "EVAL_DRAFTS": "1",
    "EVAL_SAMPLES": "1",
    "EVAL_MAX_NEW_TOKENS": "12",
}
NO_OWNER = {"owner.name": ""}  # a new owner: nobody named yet


async def ingest_sample() -> None:
    twin = Twin(load_config({**SHORT_DRAFTS, **NO_OWNER}))
    try:
        async with twin.ingestor() as ingestor:
            [result] = await ingestor.ingest([str(SAMPLE)], allow_paths=True)
        assert result.ok, result.error
    finally:
        await twin.aclose()


async def test_dataset_training_runs_and_activation(
    smol: HfGenerator, monkeypatch: pytest.MonkeyPatch, twin_home: Path
) -> None:
    for key, value in SMALL_TRAINING.items():
        monkeypatch.setenv(f"TWIN_TRAINING__{key}", value)
    await ingest_sample()
    with running_serve(smol, NO_OWNER) as srv:
        async with api_of(srv) as api:
            style = await api.json("GET", "/api/style")
            assert style["owner_names"] == [] and style["documents"] == 0

            built = await api.events("POST", "/api/dataset", {})
            [error] = [e for e in built if e["type"] == "error"]
            assert "set owner.names" in error["text"]
            await api.json("PUT", "/api/settings", {"values": {"owner.names": ["Sam Rivera"]}})
            built = await api.events("POST", "/api/dataset", {})
            [stats] = [e for e in built if e["type"] == "dataset"]
            assert stats["train_examples"] > 0 and stats["folder"].startswith(str(twin_home))
            style = await api.json("GET", "/api/style")
            assert style["owner_names"] == ["Sam Rivera"] and style["documents"] >= 3
            assert style["guidance"]["overall"]

            for body, reason in (
                ({"steps": "ten"}, "steps must be a whole number of at least 1"),
                ({"steps": 0}, "steps must be a whole number of at least 1"),
                ({"dpo": "yes"}, "dpo must be true or false"),
            ):
                assert reason in await api.error("POST", "/api/training", body, status=400)
            assert await api.json("POST", "/api/training/cancel", {}) == {"cancelled": False}
            [idle] = await api.events("GET", "/api/training/events")
            assert idle["type"] == "idle" and "No training running" in idle["text"]
            assert await api.json("GET", "/api/runs") == []

            started = await api.json("POST", "/api/training", {"steps": 2})
            assert started["started"] is True and started["pid"] > 0
            busy = await api.error("POST", "/api/training", {}, status=409)
            assert busy.startswith("already training")
            assert (await api.json("GET", "/api/status"))["training"]["running"] is True

            followed = await api.events("GET", "/api/training/events")
            kinds = {e["type"] for e in followed}
            assert {"progress", "done"} <= kinds
            steps = [e for e in followed if e["type"] == "progress" and e["loss"] is not None]
            assert steps and steps[-1]["step"] == 2 and steps[-1]["total"] == 2
            done = followed[-1]
            assert done["type"] == "done" and done["status"] == "trained", done
            run_id = done["run_id"]

            state = await api.json("GET", "/api/training")
            assert state["running"] is False and state["run_id"] == run_id
            assert [point[:1] for point in state["losses"]] == [[1], [2]]
            assert state["losses"][0][2] == "sft" and state["outcome"]["status"] == "trained"

            [run] = await api.json("GET", "/api/runs")
            assert run["id"] == run_id and run["status"] == "trained"
            evaluation = run["eval"]
            assert evaluation is not None and len(evaluation["models"]) >= 2
            perplexity = next(r for r in evaluation["rows"] if r["metric"] == "perplexity")
            assert all(perplexity["values"][m] > 1 for m in evaluation["models"])
            assert evaluation["table"].startswith("| metric |")

            assert "no such training run" in await api.error(
                "POST", "/api/models/activate", {"run": "nope"}, status=404
            )
            assert "run is missing" in await api.error(
                "POST", "/api/models/activate", {}, status=400
            )
            answer = await api.json("POST", "/api/models/activate", {"run": "base"})
            assert answer["active"] == "base"
            answer = await api.json("POST", "/api/models/activate", {"run": run_id})
            assert answer["active"] == run_id
            assert [r["active"] for r in await api.json("GET", "/api/runs")] == [True]
            available = await api.json("GET", "/api/models/available")
            assert any(m["where"] == "bundled" and m["kind"] == "gguf" for m in available)

            # A second run, cancelled from the page: it ends as cancelled, the bot runs on.
            await api.json("POST", "/api/training", {"steps": 500})
            await asyncio.sleep(1)
            assert await api.json("POST", "/api/training/cancel", {}) == {"cancelled": True}
            followed = await api.events("GET", "/api/training/events")
            assert followed[-1]["type"] in ("done", "idle")  # idle: it had ended already
            state = await api.json("GET", "/api/training")
            assert state["running"] is False and state["outcome"]["status"] == "cancelled"
