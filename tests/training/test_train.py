"""LoRA SFT and DPO on the real SmolLM2-135M (a few steps each, on CPU)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.errors import ConfigError, InputError, TrainingError
from model.adapter_card import CARD_FILE, AdapterCard
from model.generator import GenerationParams, Message, TextDelta
from model.hf import HfGenerator, ModelSource
from training.dpo import train_dpo
from training.lora import CardInfo, Progress, last_checkpoint, out_of_memory_explained
from training.settings import TrainingSettings
from training.sft import sft_stage, train_sft

pytestmark = pytest.mark.slow

VOICE = (
    "Ship the boring version first. Measure it for a week. Then, and only then, make it "
    "clever. Every clever thing I removed later was added before anyone measured."
)
FAST = TrainingSettings(
    lora_rank=8,
    lora_alpha=16,
    lora_dropout=0.0,
    max_steps=10,
    batch_size=2,
    grad_accum=1,
    learning_rate=3e-3,
    max_seq_len=128,
    save_steps=2,
    gradient_checkpointing=False,
    device="cpu",
)


def write_dataset(folder: Path, n: int = 8) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {"instruction": f"Write a LinkedIn post about lesson {i}.", "answer": VOICE}
        for i in range(n)
    ]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


async def greedy(generator: HfGenerator, prompt: str) -> str:
    params = GenerationParams(max_new_tokens=24, temperature=0.0)
    return "".join(
        [
            e.text
            async for e in generator.stream([Message("user", prompt)], params)
            if isinstance(e, TextDelta)
        ]
    )


async def test_sft_lowers_the_loss_and_the_adapter_changes_what_the_model_writes(
    smol_dir: Path, tmp_path: Path
) -> None:
    seen: list[Progress] = []
    result = train_sft(
        str(smol_dir),
        write_dataset(tmp_path / "data"),
        tmp_path / "run",
        FAST,
        CardInfo("run-1", str(smol_dir), "abc"),
        seen.append,
    )
    assert result.steps == 10 and len(result.losses) == 10
    assert result.losses[-1] < result.losses[0] * 0.5, result.losses
    assert [p.step for p in seen] == list(range(1, 11)) and seen[-1].total == 10
    assert all(p.tokens_per_s > 0 for p in seen) and result.tokens > 0

    card = AdapterCard.load(result.adapter_dir)
    assert card is not None and card.run_id == "run-1" and card.dataset_hash == "abc"
    assert card.training["lora_rank"] == 8 and card.base_fingerprint["num_hidden_layers"] == 30

    base = HfGenerator(ModelSource(str(smol_dir)))
    tuned = HfGenerator(ModelSource(str(smol_dir)), adapter=result.adapter_dir)
    try:
        assert tuned.model_version == "run-1"
        prompt = "Write a LinkedIn post about lesson 42."
        before, after = await greedy(base, prompt), await greedy(tuned, prompt)
        assert before != after
        assert after.startswith("Ship"), after  # the owner's opening, never the base's
    finally:
        await base.aclose()
        await tuned.aclose()


def test_the_loss_counts_the_owners_answer_only(smol_dir: Path, tmp_path: Path) -> None:
    stage = sft_stage(str(smol_dir), write_dataset(tmp_path / "data", 2), tmp_path / "run", FAST)
    batch = stage.trainer.data_collator([stage.trainer.train_dataset[0]])
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    scored = [token for token, label in zip(ids, labels, strict=True) if label != -100]
    text = stage.tokenizer.decode(scored)
    # the owner's text (and the end of the turn) is scored; the instruction is not
    assert text.startswith(VOICE) and "lesson 0" not in text
    assert "lesson 0" in stage.tokenizer.decode(ids)
    assert len(scored) < len(ids) / 2


def test_an_interrupted_run_resumes_from_its_last_checkpoint(
    smol_dir: Path, tmp_path: Path
) -> None:
    data, run = write_dataset(tmp_path / "data"), tmp_path / "run"
    info = CardInfo("run-2", str(smol_dir), "abc")

    def stop_at_three(progress: Progress) -> None:
        if progress.step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_sft(str(smol_dir), data, run, FAST, info, stop_at_three)
    assert (run / "sft" / "checkpoint-2").is_dir()
    assert not (run / "adapter").exists()  # nothing that looks finished

    result = train_sft(str(smol_dir), data, run, FAST, info)
    assert result.resumed_from is not None and result.resumed_from.endswith("checkpoint-2")
    assert result.steps == 10 and len(result.losses) == 8  # steps 3..10 only
    assert (result.adapter_dir / "adapter_model.safetensors").is_file()


def test_a_checkpoint_cut_short_while_saving_is_passed_over(tmp_path: Path) -> None:
    sft = tmp_path / "sft"
    assert last_checkpoint(sft) is None
    for step, state in [(2, "{}"), (10, '{"global_st'), (12, None)]:
        (sft / f"checkpoint-{step}").mkdir(parents=True)
        if state is not None:
            (sft / f"checkpoint-{step}" / "trainer_state.json").write_text(state)
    (sft / "checkpoint-x").mkdir()
    assert last_checkpoint(sft) == str(sft / "checkpoint-2")  # 12 unsaved, 10 half-written


def test_dpo_continues_from_the_sft_adapter(smol_dir: Path, tmp_path: Path) -> None:
    from datasets import Dataset

    info = CardInfo("run-3", str(smol_dir), "abc")
    settings = TrainingSettings(**{**FAST.to_json(), "target_modules": ("q_proj", "v_proj")})
    settings = TrainingSettings(
        **{**settings.__dict__, "max_steps": 2, "dpo_learning_rate": 1e-3, "save_steps": 10}
    )
    sft = train_sft(
        str(smol_dir), write_dataset(tmp_path / "data", 4), tmp_path / "run", settings, info
    )
    pairs = Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": f"Write about lesson {i}."}],
                "chosen": [{"role": "assistant", "content": VOICE}],
                "rejected": [{"role": "assistant", "content": "As an AI, I love synergy!"}],
            }
            for i in range(4)
        ]
    )
    result = train_dpo(str(smol_dir), sft.adapter_dir, pairs, tmp_path / "run", settings, info)
    assert result.stage == "dpo" and result.steps == 2 and len(result.losses) == 2
    card = AdapterCard.load(result.adapter_dir)
    assert card is not None and card.stage == "dpo"
    # only the trained adapter is saved, not TRL's frozen reference copy
    assert not (result.adapter_dir / "ref").exists()
    tuned = HfGenerator(ModelSource(str(smol_dir)), adapter=result.adapter_dir)
    assert tuned.model_version == "run-3"


def test_a_base_without_a_chat_template_is_refused(smol_dir: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(smol_dir, bare)
    (bare / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((bare / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (bare / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="has no chat template"):
        train_sft(
            str(bare), write_dataset(tmp_path / "d"), tmp_path / "r", FAST, CardInfo("x", "", "")
        )


def test_bad_inputs_fail_before_training(smol_dir: Path, tmp_path: Path) -> None:
    info = CardInfo("x", "", "")
    data = write_dataset(tmp_path / "d")
    with pytest.raises(ConfigError, match="cannot load the base model"):
        train_sft(str(tmp_path / "nowhere"), data, tmp_path / "r", FAST, info)
    qlora = TrainingSettings(**{**FAST.__dict__, "qlora": True})
    with pytest.raises(ConfigError, match="needs CUDA"):
        train_sft(str(smol_dir), data, tmp_path / "r", qlora, info)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "train.jsonl").write_text("")
    with pytest.raises(InputError, match="no examples to train on"):
        train_sft(str(smol_dir), empty, tmp_path / "r", FAST, info)
    with pytest.raises(InputError, match="dataset build"):
        train_sft(str(smol_dir), tmp_path / "missing", tmp_path / "r", FAST, info)
    assert not (tmp_path / "r" / "adapter").exists()


def test_out_of_memory_says_what_to_change() -> None:
    with pytest.raises(TrainingError) as caught, out_of_memory_explained(FAST, "SFT"):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    message = str(caught.value)
    assert "batch_size=2" in message and "max_seq_len=128" in message and "qlora" in message
    with pytest.raises(RuntimeError, match="something else"), out_of_memory_explained(FAST, "SFT"):
        raise RuntimeError("something else")


def test_an_adapter_for_another_base_is_refused_on_load(
    smol_dir: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    settings = TrainingSettings(**{**FAST.__dict__, "max_steps": 1, "save_steps": 10})
    result = train_sft(
        str(smol_dir),
        write_dataset(tmp_path / "d", 2),
        tmp_path / "r",
        settings,
        CardInfo("run-4", "SmolLM2-135M", "abc"),
    )
    assert (result.adapter_dir / CARD_FILE).is_file()
    with pytest.raises(ConfigError, match="was trained on SmolLM2-135M") as caught:
        HfGenerator(ModelSource(str(tiny_model_dir)), adapter=result.adapter_dir)
    assert "num_hidden_layers 30 vs 2" in str(caught.value)
