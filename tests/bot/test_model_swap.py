"""A newly activated model is swapped into a running twin without a restart: drafts in
flight finish on the old model, new ones use the new one, and the old one is closed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.config import load_config
from bot.twin import Twin
from model.adapter_card import AdapterCard, base_fingerprint
from model.generator import Finished, GenerationParams, Message, TextDelta
from model.hf import HfGenerator
from model.worker import ModelWorker
from training.registry import Registry

PROMPT = [Message("user", "Tell me about shipping software.")]
GREEDY = GenerationParams(max_new_tokens=40, temperature=0.0)


def make_adapter(base: Path, target: Path, run_id: str) -> Path:
    """A LoRA adapter with random (non-zero) B matrices, so it changes every output."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(base)
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    for name, param in peft.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.5)
    peft.save_pretrained(str(target))
    AdapterCard(run_id, str(base), base_fingerprint(model.config), "abc").save(target)
    return target


def trained_run(registry: Registry, base: Path, adapter: Path, run_id: str) -> str:
    registry.start(
        base_model=str(base), dataset_hash="abc", dataset_folder="/d", config={}, run_id=run_id
    )
    registry.add_paths(run_id, adapter=str(adapter))
    registry.finish(run_id)
    return run_id


async def text(worker: ModelWorker) -> str:
    return "".join(
        [e.text async for e in worker.stream("bob", PROMPT, GREEDY) if isinstance(e, TextDelta)]
    )


async def test_activation_swaps_the_model_while_a_draft_in_flight_finishes_on_the_old(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    twin = Twin(load_config({"model.path": str(tiny_model_dir)}))
    other = Registry(twin.warehouse)  # as `llm-twin models activate` would, elsewhere
    run_id = trained_run(
        other, tiny_model_dir, make_adapter(tiny_model_dir, tmp_path / "adapter", "run-7"), "run-7"
    )
    try:
        worker = await twin.model_worker()
        old = worker.generator
        assert twin.serving_run is None and old.model_version == "base"
        base_text = await text(worker)
        assert not await twin.follow_active_model()  # nothing activated: no reload

        long = GenerationParams(max_new_tokens=200, temperature=0.0)
        in_flight = worker.stream("alice", PROMPT, long)
        first = await anext(in_flight)
        assert isinstance(first, TextDelta)

        other.activate(run_id)
        assert await twin.follow_active_model()
        new = worker.generator
        assert new is not old and new.model_version == "run-7" and twin.serving_run == "run-7"
        assert not await twin.follow_active_model()  # once per activation

        # The draft in flight goes on, on the old model, to its natural end.
        rest = [event async for event in in_flight]
        assert isinstance(rest[-1], Finished) and rest[-1].finish_reason in ("stop", "length")
        assert isinstance(old, HfGenerator) and isinstance(new, HfGenerator)
        await asyncio.wait_for(asyncio.gather(*twin._retiring), 30)
        assert old._executor._shutdown  # closed once drained
        assert not new._executor._shutdown

        tuned_text = await text(worker)
        assert tuned_text != base_text  # new drafts come from the adapter

        other.activate(None)  # back to the base model
        assert await twin.follow_active_model()
        assert twin.serving_run is None and worker.generator.model_version == "base"
        assert await text(worker) == base_text
    finally:
        await twin.aclose()


async def test_a_run_this_backend_cannot_serve_keeps_the_current_model(
    tiny_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    twin = Twin(load_config({"model.path": str(tiny_model_dir)}))
    registry = Registry(twin.warehouse)
    try:
        worker = await twin.model_worker()
        before = worker.generator
        registry.start(
            base_model=str(tiny_model_dir),
            dataset_hash="x",
            dataset_folder="/d",
            config={},
            run_id="no-adapter",
        )
        registry.finish("no-adapter")  # trained, but its adapter path was never recorded
        registry.activate("no-adapter")
        assert not await twin.follow_active_model()
        assert worker.generator is before and twin.serving_run is None
        assert "cannot be served here: run no-adapter has no adapter" in caplog.text
    finally:
        await twin.aclose()


async def test_the_active_run_is_served_from_start_up(tiny_model_dir: Path, tmp_path: Path) -> None:
    config = load_config({"model.path": str(tiny_model_dir)})
    setup = Twin(config)
    adapter = make_adapter(tiny_model_dir, tmp_path / "adapter", "run-8")
    Registry(setup.warehouse).activate(trained_run(setup.models, tiny_model_dir, adapter, "run-8"))
    setup.close()

    twin = Twin(config)
    trainer = Twin(config, serve_active=False)  # training asks the base model
    try:
        assert (await twin.model_worker()).generator.model_version == "run-8"
        assert twin.serving_run == "run-8"
        assert (await trainer.model_worker()).generator.model_version == "base"
    finally:
        await twin.aclose()
        await trainer.aclose()


async def test_activating_a_run_on_llamacpp_exports_and_swaps_in_its_gguf_adapter(
    smol_dir: Path, tmp_path: Path
) -> None:
    """The default backend for the bundled GGUF is llamacpp: activating a run trained on
    that GGUF's weights is enough; its adapter is exported as GGUF and hot-swapped in."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    from model.hf import default_model_source
    from model.llamacpp import LlamaCppGenerator

    source = default_model_source()
    base_gguf = Path(source.location) / str(source.gguf_file)
    twin = Twin(load_config({"model.max_seq_len": "1024"}, home=tmp_path / "home"))
    other = Registry(twin.warehouse)
    adapter = make_adapter(smol_dir, tmp_path / "adapter", "run-9")
    run_id = trained_run(other, smol_dir, adapter, "run-9")
    other.add_paths(run_id, base_gguf=str(base_gguf), run=str(tmp_path / "runs" / run_id))
    try:
        worker = await twin.model_worker()
        old = worker.generator
        assert isinstance(old, LlamaCppGenerator) and old.model_version == "base"
        base_text = await text(worker)
        in_flight = worker.stream("alice", PROMPT, GenerationParams(max_new_tokens=60))
        assert isinstance(await anext(in_flight), TextDelta)

        other.activate(run_id)
        assert await twin.follow_active_model()
        new = worker.generator
        assert isinstance(new, LlamaCppGenerator) and new is not old
        assert new.model_version == "run-9" and twin.serving_run == "run-9"
        exported = Path(other.require(run_id).paths["gguf_adapter"])
        assert exported.suffix == ".gguf" and exported.stat().st_size > 0  # noqa: ASYNC240
        rest = [event async for event in in_flight]  # finishes on the old model
        assert isinstance(rest[-1], Finished)
        assert await text(worker) != base_text  # new drafts come from the adapter
    finally:
        await twin.aclose()
