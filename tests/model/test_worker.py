"""The model worker: fair queueing between users, caps, timeouts and cancellation, on real
models (a tiny random Llama for ordering, SmolLM2 where generation must take a while)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from model.generator import Finished, GenerationParams, Message, TextDelta
from model.hf import HfGenerator, ModelSource
from model.worker import ModelWorker

pytestmark = pytest.mark.slow

ASK = [Message("user", "Say something about queues.")]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path) -> Iterator[HfGenerator]:
    generator = HfGenerator(ModelSource(str(tiny_model_dir)))
    yield generator
    generator._executor.shutdown(wait=True)


async def run(worker: ModelWorker, user: str, log: list[str], max_new_tokens: int = 3) -> Finished:
    params = GenerationParams(max_new_tokens=max_new_tokens, temperature=0.0)
    finished = None
    async for event in worker.stream(user, ASK, params):
        if isinstance(event, Finished):
            finished = event
    log.append(user)
    assert finished is not None
    return finished


async def test_waiting_jobs_take_turns_between_users(tiny: HfGenerator) -> None:
    worker = ModelWorker(tiny, slots=1)
    assert worker.slots == 1  # hf cannot batch: one at a time
    log: list[str] = []
    first = asyncio.create_task(run(worker, "alice", log, max_new_tokens=30))
    await asyncio.sleep(0)  # alice's first job holds the slot
    jobs = [asyncio.create_task(run(worker, "alice", log)) for _ in range(3)]
    jobs.append(asyncio.create_task(run(worker, "bob", log)))
    await asyncio.sleep(0)
    assert worker.active == 1 and worker.queued("alice") == 3 and worker.queued("bob") == 1
    await asyncio.gather(first, *jobs)
    # bob's one job goes second in line, not behind all of alice's burst
    assert log == ["alice", "alice", "bob", "alice", "alice"]
    assert worker.active == 0 and worker.queued() == 0


async def test_the_max_new_tokens_cap_wins_over_the_request(tiny: HfGenerator) -> None:
    worker = ModelWorker(tiny, max_new_tokens=5)
    finished = await run(worker, "alice", [], max_new_tokens=200)
    assert finished.completion_tokens <= 5


async def test_a_job_cancelled_in_the_queue_gives_up_its_place(tiny: HfGenerator) -> None:
    worker = ModelWorker(tiny, slots=1)
    log: list[str] = []
    holder = asyncio.create_task(run(worker, "alice", log, max_new_tokens=30))
    await asyncio.sleep(0)
    doomed = asyncio.create_task(run(worker, "bob", log))
    later = asyncio.create_task(run(worker, "carol", log))
    await asyncio.sleep(0)
    assert worker.queued() == 2
    doomed.cancel()
    await asyncio.gather(holder, later)
    assert doomed.cancelled()
    assert log == ["alice", "carol"]
    assert worker.active == 0 and worker.queued() == 0


async def test_a_job_past_its_timeout_is_stopped(smol: HfGenerator) -> None:
    worker = ModelWorker(smol, timeout=1.0)
    before = smol.generated_tokens
    events = [
        e
        async for e in worker.stream(
            "alice", ASK, GenerationParams(max_new_tokens=600, temperature=0.0)
        )
    ]
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.finish_reason == "timeout"
    assert any(isinstance(e, TextDelta) for e in events)  # the partial text came through
    # the slot is free and the backend really stopped: the next job runs, and the total
    # generated is far below the 600 tokens the first job asked for
    await run(worker, "bob", [], max_new_tokens=2)
    assert smol.generated_tokens - before < 200
    assert worker.active == 0


async def test_cancelling_the_reading_task_frees_the_slot(smol: HfGenerator) -> None:
    worker = ModelWorker(smol)
    started = asyncio.Event()

    async def reader() -> None:
        params = GenerationParams(max_new_tokens=600, temperature=0.0)
        async for event in worker.stream("alice", ASK, params):
            if isinstance(event, TextDelta):
                started.set()

    task = asyncio.create_task(reader())
    await started.wait()
    before = smol.generated_tokens
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert worker.active == 0
    await run(worker, "bob", [], max_new_tokens=2)
    assert smol.generated_tokens - before < 100


async def test_a_cancel_lands_whenever_it_comes(smol: HfGenerator) -> None:
    """Cancels at many different moments of a stream (after 1..8 events, a few loop steps
    apart): every one stops the reader and the backend, and frees the slot."""
    worker = ModelWorker(smol)
    essay = [Message("user", "Write a long essay about the history of computing.")]
    for step in range(1, 9):
        reached = asyncio.Event()

        async def reader(step: int = step, reached: asyncio.Event = reached) -> None:
            seen = 0
            params = GenerationParams(max_new_tokens=300, temperature=0.0)
            async for _ in worker.stream("alice", essay, params):
                seen += 1
                if seen == step:
                    reached.set()

        before = smol.generated_tokens
        task = asyncio.create_task(reader())
        await reached.wait()
        for _ in range(step % 4):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert worker.active == 0
        await run(worker, "bob", [], max_new_tokens=1)  # the backend is free again
        assert smol.generated_tokens - before < 60, f"cancel after {step} events was lost"


async def test_closing_the_stream_closes_the_backend_before_the_slot_moves_on(
    smol: HfGenerator,
) -> None:
    worker = ModelWorker(smol)
    before = smol.generated_tokens
    stream = worker.stream("alice", ASK, GenerationParams(max_new_tokens=300, temperature=0.0))
    async for event in stream:
        assert isinstance(event, TextDelta)
        break
    await stream.aclose()
    assert worker.active == 0
    await run(worker, "bob", [], max_new_tokens=1)
    assert smol.generated_tokens - before < 60


def test_a_backend_that_cannot_batch_gets_one_slot(tiny: HfGenerator) -> None:
    assert ModelWorker(tiny, slots=4).slots == 1
