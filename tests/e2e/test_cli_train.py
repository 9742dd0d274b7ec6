"""From the ingested sample to a fine-tuned, evaluated, activated twin, through the CLI,
on the real SmolLM2-135M: dataset, SFT, DPO, eval, promotion, drafting with the run,
merge, models list/activate, an interrupted run resumed, and bad input refused."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli.main import cli

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parents[2] / "sample"
SMALL = [
    "--set", "owner.names=Sam Rivera",
    "--set", "training.lora_rank=8",
    "--set", "training.batch_size=2",
    "--set", "training.grad_accum=1",
    "--set", "training.learning_rate=0.001",
    "--set", "training.max_seq_len=256",
    "--set", "training.max_answer_tokens=192",
    "--set", "training.gradient_checkpointing=false",
    "--set", "training.save_steps=1",
    "--set", "training.eval_drafts=1",
    "--set", "training.eval_samples=1",
    "--set", "training.eval_max_new_tokens=12",
    "--set", "training.synthetic_pairs=2",
    "--set", "drafting.max_new_tokens=16",
    "--set", "drafting.k=1",
]  # fmt: skip


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*SMALL, *args], catch_exceptions=False)
    return result.exit_code, result.output


def runs() -> list[dict[str, object]]:
    code, output = run("models", "list", "--json")
    assert code == 0, output
    listed: list[dict[str, object]] = json.loads(output)
    return listed


def test_train_evaluate_promote_draft_export(twin_home: Path) -> None:
    assert run("ingest", str(SAMPLE))[0] == 0
    code, output = run("train", "--max-steps", "3")
    assert code == 0, output
    assert "sft: 3 steps, loss" in output
    (listed,) = runs()
    run_id = str(listed["id"])
    assert listed["status"] == "trained" and listed["stage"] == "done"
    assert listed["dataset_hash"] and Path(str(listed["dataset_folder"])).is_dir()
    folder = twin_home / "runs" / run_id
    table = (folder / "eval" / "eval.md").read_text()
    assert f"| metric | base | {run_id} |" in table and "perplexity" in table
    metrics = listed["metrics"]
    assert isinstance(metrics, dict)
    ppl = {name: metrics["eval"][name]["perplexity"] for name in ("base", run_id)}
    # The promotion gate decided, and said why, in eval.md and on the console. With the
    # sample's 6 documents training.promote_metric "auto" means perplexity; one draft and
    # a test example or two are too few to measure noise, so the margin alone decides.
    decision = json.loads((folder / "eval" / "eval.json").read_text())["promotion"]
    assert decision["metric"] == "perplexity" and decision["configured"] == "auto"
    promoted = re.search(r"^promoted: ", output, re.M) is not None
    assert promoted == decision["promote"] == listed["active"], (output, ppl)
    assert promoted == (ppl[run_id] < 0.99 * ppl["base"]), (output, ppl)
    assert ("## Promotion\n\n" + ("promoted" if promoted else "not promoted")) in table
    assert f"{run_id} over base: perplexity" in table

    # Whatever the metric said, the owner can activate it; drafts then come from it.
    assert run("models", "activate", run_id) == (0, f"active: {run_id}\n")
    code, output = run("models", "list")
    assert (
        f"* {run_id}  trained" in output
        and "  base: SmolLM2-135M-Instruct (bundled demo model, GGUF)" in output
    )
    code, output = run("draft", "--json", "Write a post about SQLite")
    assert code == 0, output
    draft = json.loads(output[output.index("{\n") :])
    assert draft["model"]["version"] == run_id

    code, output = run("quantize")
    assert code == 0, output
    assert "not quantized: EXL2 quantization needs a CUDA GPU" in output
    assert (folder / "merged" / "model.safetensors").is_file()
    assert runs()[0]["paths"]["merged"] == str(folder / "merged")  # type: ignore[index]

    assert run("models", "activate", "base") == (0, "active: base\n")
    code, output = run("train", "--max-steps", "1", "--dpo", "--no-eval")
    assert code == 0, output
    assert "preference pairs: 2" in output and "dpo: 1 steps" in output
    newest = runs()[0]
    assert newest["status"] == "trained" and newest["config"]["dpo"] is True  # type: ignore[index]
    assert str(newest["paths"]["adapter"]).endswith("adapter-dpo")  # type: ignore[index]
    assert not newest["active"]


def test_an_interrupted_run_is_marked_failed_and_resumes(twin_home: Path) -> None:
    assert run("ingest", str(SAMPLE))[0] == 0
    child = subprocess.Popen(
        [sys.executable, "-m", "bot", *SMALL, "train", "--max-steps", "4", "--events"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=os.environ.copy(),
    )
    assert child.stdout is not None
    events = []
    for line in child.stdout:
        events.append(json.loads(line))
        if events[-1]["event"] == "progress" and events[-1]["step"] == 2:
            child.send_signal(signal.SIGTERM)
            break
    rest = child.stdout.read()
    assert child.wait(60) == 130
    assert "interrupted" in rest
    assert events[-1] == {**events[-1], "stage": "sft", "total": 4}
    (failed,) = runs()
    assert failed["status"] == "failed" and "--resume" in str(failed["error"])

    for args, refusal in [
        (("eval", str(failed["id"])), "this run is failed; only a trained run is evaluated"),
        (("quantize", str(failed["id"])), "this run is failed; only a trained run is exported"),
        (("models", "activate", str(failed["id"])), "this run is failed, not trained"),
    ]:
        code, output = run(*args)
        assert code == 2 and refusal in output, (args, output)

    code, output = run("train", "--resume", str(failed["id"]), "--no-eval")
    assert code == 0, output
    assert f"resuming run {failed['id']} at its sft stage" in output
    (done,) = runs()
    assert done["status"] == "trained" and done["error"] is None
    sft = done["metrics"]["sft"]  # type: ignore[index]
    # step 2's log comes just before its checkpoint is saved: either is a fair resume
    assert sft["steps"] == 4 and re.search(r"/sft/checkpoint-[12]$", sft["resumed_from"])


def test_bad_input_registers_no_run(twin_home: Path) -> None:
    code, output = run("train")
    assert code == 2 and "error: dataset:" in output  # nothing ingested
    assert run("ingest", str(SAMPLE))[0] == 0
    code, output = run("--set", "training.base_model=/nowhere/model", "train")
    assert code == 2 and "model.path /nowhere/model does not exist" in output
    code, output = run("--set", "owner.names=Someone Else", "train")
    assert code == 2 and "none of the 6 documents is by owner.names" in output
    code, output = run("eval")
    assert code == 2 and "there is no trained run yet" in output
    code, output = run("models", "activate", "nope")
    assert code == 2 and "nope: no such training run" in output
    code, output = run("quantize")
    assert code == 2 and "there is no trained run yet" in output
    code, output = run("quantize", "nope")
    assert code == 2 and "nope: no such training run" in output
    code, output = run("train", "--resume", "nope")
    assert code == 2 and "nope: no such training run" in output
    assert runs() == []
    assert not (twin_home / "runs").exists()  # nothing half-written
