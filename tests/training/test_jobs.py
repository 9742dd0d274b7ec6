"""Training from chat: a real child process per job, its JSON-line events shown by editing
one message, one job at a time, cancel and shutdown by SIGTERM.

Most tests run a small stand-in for `llm-twin train --events` (written below) that
speaks the same events and registers its run in the real registry; the last one runs the
real command line, which fails fast on the empty warehouse of a fresh twin home."""

from __future__ import annotations

import asyncio
import itertools
import re
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.chat.commands import TrainArgs, parse_models, parse_train
from bot.chat.handler import REFUSAL, ChatHandler
from bot.chat.replies import ChatUser, DraftUpdate, Out, Say
from bot.twin import Twin
from core.errors import InputError
from model.hf import HfGenerator
from tests.chat_support import chat_handler
from training.events import TrainingDone, TrainingMessage
from training.jobs import TrainingJobs
from training.lora import Progress
from training.run import TrainOptions

OWNER = ChatUser("telegram", "42", "Sam")
STRANGER = ChatUser("telegram", "7", "Eve")
INTERVAL = 0.2

# The trainer's part, in small: events on stdout, SIGTERM unwinds as an interrupt that
# marks the run failed (exit 130), as `_terminate_as_interrupt` does in bot/cli/train.py.
STAND_IN = """
import json, signal, sys, time
from pathlib import Path

from ingest.warehouse.store import Warehouse
from training.registry import Registry

url, mode, seen = sys.argv[1], sys.argv[2], Path(sys.argv[3])
args = sys.argv[4:]
steps = int(args[args.index("--max-steps") + 1]) if "--max-steps" in args else 3


def say(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


def interrupt(signum, frame):
    raise KeyboardInterrupt


signal.signal(signal.SIGTERM, interrupt)
seen.write_text(" ".join(args))
if mode == "fail":
    say("message", text="dataset 1a2b: 3 train and 1 test examples")
    print("error: training: out of memory at step 1; lower training.batch_size", file=sys.stderr)
    sys.exit(2)
models = Registry(Warehouse(url))
run = models.start(base_model="stand-in", dataset_hash="1a2b", dataset_folder="-", config={})
say("message", text=f"run {run.id}: training on stand-in")
try:
    for step in range(1, steps + 1):
        say("progress", stage="sft", step=step, total=steps, loss=2.0 / step,
            tokens_per_s=170.0, eta_s=0.05 * (steps - step))
        if mode == "hold":
            signal.pause()  # until SIGTERM
        time.sleep(0.05)
except KeyboardInterrupt:
    seen.with_suffix(".sigterm").write_text("SIGTERM")
    models.fail(run.id, f"interrupted; resume with `llm-twin train --resume {run.id}`")
    say("message", text="interrupted: the run is marked failed; --resume takes it back up")
    sys.exit(130)
models.finish(run.id)
models.activate(run.id)
say("message", text=f"promoted: {run.id} beats base on perplexity and is now the active model")
say("message", text=f"run {run.id}: trained")
"""

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", TrainArgs()),
        ("status", TrainArgs("status")),
        ("CANCEL", TrainArgs("cancel")),
        ("dpo steps 5", TrainArgs(options=TrainOptions(max_steps=5, dpo=True))),
        (
            "resume 20250101-120000-ab12",
            TrainArgs(options=TrainOptions(resume="20250101-120000-ab12")),
        ),
    ],
)
def test_train_words_parse(text: str, expected: TrainArgs) -> None:
    assert parse_train(text) == expected


def test_bad_train_and_models_words_say_what_works() -> None:
    for bad in ("steps", "steps zero", "now please", "resume", "resume X dpo"):
        with pytest.raises(InputError, match=r"^train: "):
            parse_train(bad)
    assert parse_models("") is None and parse_models("list") is None
    assert parse_models("activate base") == "base"
    with pytest.raises(InputError, match="models activate RUN"):
        parse_models("activate")


async def said(events: AsyncIterator[Out]) -> list[Out]:
    return [out async for out in events]


def texts(outs: list[Out]) -> str:
    return "\n".join(o.text for o in outs if isinstance(o, Say))


Chat = tuple[ChatHandler, Twin]


@pytest.fixture
async def chat(smol: HfGenerator) -> AsyncIterator[Chat]:
    overrides = {"telegram.allowed_user_ids": "[42]", "chat.edit_interval": str(INTERVAL)}
    async with chat_handler(smol, overrides, ingest_sample=False) as pair:
        yield pair


@pytest.fixture
def stand_in(chat: Chat, tmp_path: Path) -> Callable[[str], Path]:
    """Point the handler's jobs at the stand-in in `mode`; the file it writes its
    arguments to (and, beside it, `.sigterm` once it saw SIGTERM)."""
    handler, twin = chat
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)

    def use(mode: str) -> Path:
        seen = tmp_path / f"{mode}.args"
        command = [sys.executable, str(script), twin.config.warehouse_url, mode, str(seen)]
        handler.training = TrainingJobs(twin.training_context(), command=command)
        return seen

    return use


class Watch:
    """`handle(OWNER, message)` consumed in a task; `step(n)` waits for that step."""

    def __init__(self, handler: ChatHandler, message: str) -> None:
        self.outs: list[tuple[float, Out]] = []
        self._seen = asyncio.Condition()
        self.task = asyncio.create_task(self._run(handler, message))

    async def _run(self, handler: ChatHandler, message: str) -> None:
        async for out in handler.handle(OWNER, message):
            async with self._seen:
                self.outs.append((time.monotonic(), out))
                self._seen.notify_all()

    async def step(self, text: str) -> None:
        async def seen() -> None:
            async with self._seen:
                await self._seen.wait_for(
                    lambda: any(isinstance(o, DraftUpdate) and text in o.text for _, o in self.outs)
                )

        await asyncio.wait_for(seen(), 30)

    async def done(self) -> list[Out]:
        await asyncio.wait_for(self.task, 30)
        return [out for _, out in self.outs]


async def test_progress_edits_one_message_in_order_and_a_promoted_run_is_announced(
    chat: Chat, stand_in: Callable[[str], Path], twin_home: Path
) -> None:
    handler, twin = chat
    seen = stand_in("ok")
    watch = Watch(handler, "train steps 8")
    outs = await watch.done()
    assert seen.read_text() == "--events --max-steps 8"
    *updates, final = outs
    assert updates and all(isinstance(o, DraftUpdate) for o in updates)
    assert isinstance(final, Say)
    steps = [int(m) for o in updates for m in re.findall(r"step (\d)/8", o.text)]
    assert steps == sorted(steps) and steps[0] >= 1
    assert updates[0].text.startswith("🏋️ Training: SFT, at most 8 steps (pid ")
    # Edits come at most once per chat.edit_interval.
    times = [at for at, o in watch.outs if isinstance(o, DraftUpdate)]
    assert all(b - a >= INTERVAL * 0.95 for a, b in itertools.pairwise(times))
    run = twin.models.latest()
    assert run is not None
    active = twin.models.active()
    assert active is not None and active.id == run.id
    assert final.text.startswith(f"✅ Training finished: run {run.id} is trained. It beat")
    assert "is now the active model" in final.text and f"run {run.id}: trained" in final.text
    assert list((twin_home / "logs").glob("train-*.log"))

    models = texts(await said(handler.handle(OWNER, "models")))
    assert models.splitlines() == [
        "  base: SmolLM2-135M-Instruct (bundled demo model, GGUF)",
        f"* {run.id} trained (sft)",
    ]
    assert "Active model: base." in texts(await said(handler.handle(OWNER, "models activate base")))
    assert "* base" in texts(await said(handler.handle(OWNER, "models")))
    status = texts(await said(handler.handle(OWNER, "train status")))
    assert status.startswith("No training running. The last one:\n✅ Training finished")


async def test_typed_updates_arrive_in_order(chat: Chat, stand_in: Callable[[str], Path]) -> None:
    handler, _ = chat
    stand_in("ok")
    job = await handler.training.start(TrainOptions(max_steps=4))
    updates = [u async for u in job.updates()]
    progress = [u for u in updates if isinstance(u, Progress)]
    assert [p.step for p in progress] == [1, 2, 3, 4]
    assert all(p.total == 4 and p.stage == "sft" for p in progress)
    assert isinstance(updates[0], TrainingMessage) and "training on stand-in" in updates[0].text
    done = updates[-1]
    assert isinstance(done, TrainingDone) and (done.status, done.exit_code) == ("trained", 0)
    assert done.promoted and done.run is not None and done.run.status == "trained"
    assert [u async for u in job.updates()] == [done]  # a late watcher gets the outcome


async def test_a_second_train_is_refused_and_cancel_stops_the_child_resumably(
    chat: Chat, stand_in: Callable[[str], Path]
) -> None:
    handler, twin = chat
    seen = stand_in("hold")
    watch = Watch(handler, "train")
    await watch.step("step 1/3")
    busy = texts(await said(handler.handle(OWNER, "train dpo")))
    assert busy.startswith("⚠️ already training (sft: step 1/3, loss 2.000")
    assert "train cancel to stop it" in busy
    status = texts(await said(handler.handle(OWNER, "train status")))
    assert "sft: step 1/3" in status and "train cancel stops it" in status
    for message in ("train", "train cancel", "models"):  # only allowed users
        assert await said(handler.handle(STRANGER, message)) == [Say(REFUSAL)]
    job = handler.training.current
    assert job is not None and job.process.returncode is None

    reply = texts(await said(handler.handle(OWNER, "train cancel")))
    assert reply == "Cancelling the training run."
    final = (await watch.done())[-1]
    assert job.process.returncode == 130
    assert seen.with_suffix(".sigterm").read_text() == "SIGTERM"
    run = twin.models.latest("failed")
    assert run is not None and run.error is not None and "interrupted" in run.error
    assert isinstance(final, Say) and final.text.startswith(
        f"⏹ Training cancelled (cancelled from chat). Run {run.id} is marked failed; "
        f"send `train resume {run.id}` to take it back up."
    )
    assert "No training in progress." in texts(await said(handler.handle(OWNER, "train cancel")))
    models = texts(await said(handler.handle(OWNER, "models")))
    assert f"  {run.id} failed (sft): interrupted" in models
    refused = texts(await said(handler.handle(OWNER, f"models activate {run.id}")))
    assert refused.startswith(f"⚠️ {run.id}: this run is failed, not trained")


async def test_a_failing_child_shows_its_message(
    chat: Chat, stand_in: Callable[[str], Path]
) -> None:
    handler, _ = chat
    stand_in("fail")
    reply = texts(await said(handler.handle(OWNER, "train")))
    assert reply.startswith(
        "⚠️ Training failed (exit 2): training: out of memory at step 1; lower "
        "training.batch_size\nNo run was registered yet"
    )
    assert "dataset 1a2b: 3 train and 1 test examples" in reply
    assert handler.training.current is None
    unknown = texts(await said(handler.handle(OWNER, "train frobnicate")))
    assert unknown.startswith("⚠️ train: I do not know 'frobnicate'; say train, train dpo")


async def test_shutdown_terminates_a_running_child(
    chat: Chat, stand_in: Callable[[str], Path]
) -> None:
    handler, _ = chat
    seen = stand_in("hold")
    watch = Watch(handler, "train steps 2")
    await watch.step("step 1/2")
    job = handler.training.current
    assert job is not None
    assert await handler.cancel_all() == 0  # no drafts; the trainer is stopped and awaited
    assert job.process.returncode == 130 and job.finished
    assert seen.with_suffix(".sigterm").exists()
    assert handler.training.current is None
    final = (await watch.done())[-1]
    assert isinstance(final, Say)
    assert final.text.startswith("⏹ Training cancelled (the bot is stopping).")


async def test_the_real_train_command_line_runs_and_its_error_reaches_chat(
    chat: Chat, smol_dir: Path
) -> None:
    """The real `llm-twin train --events`: click takes the argv built here, and on a fresh
    twin home it stops at the dataset (the warehouse is empty) with exit status 2."""
    handler, twin = chat
    argv = handler.training.argv(TrainOptions(max_steps=1, dpo=True))
    assert argv[1:3] == ["-n", "10"] and argv[3:6] == [sys.executable, "-m", "bot"]
    config = twin.config.config_file  # ./config.toml, found from the repository root
    assert argv[6:] == [
        "--home",
        str(twin.config.home.resolve()),
        *(["--config", str(config.resolve())] if config else []),
        "train",
        "--events",
        "--dpo",
        "--max-steps",
        "1",
    ]
    reply = texts(await said(handler.handle(OWNER, "train dpo steps 1")))
    assert reply.startswith(
        "⚠️ Training failed (exit 2): dataset: the warehouse holds no documents yet; "
        "ingest your writing first"
    )
    assert twin.models.runs() == []
