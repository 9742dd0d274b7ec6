"""Training started from chat: `llm-twin train --events` as a child process, watched.

The trainer runs in its own process (under `nice` where it exists, in its own session so
a Ctrl-C meant for the bot does not reach it twice), so a serving bot's event loop and
model worker are never starved. Its stdout is JSON lines (`progress` and `message`
events, training/events.py); its stderr goes to $TWIN_HOME/logs/train-<time>.log. One job
runs at a time. Cancelling sends SIGTERM, which the trainer turns into an interrupt: the
run is marked failed and can be resumed. The outcome comes from the exit code and the
model registry; a run that was promoted is swapped in at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Literal

from core.errors import TrainingError, TwinError
from training.context import TrainingContext
from training.events import (
    TrainingDone,
    TrainingMessage,
    TrainingUpdate,
    describe,
    parse_event,
)
from training.lora import Progress
from training.registry import FAILED, Run
from training.run import TrainOptions

log = logging.getLogger(__name__)

_LINE_LIMIT = 4 * 1024 * 1024  # one JSON line (an eval table is one message)
_STOP_GRACE = 30.0  # seconds a terminated trainer gets to mark its run failed
_LIVE_MESSAGES = 3  # message lines kept in the live progress text


class TrainingBusy(TwinError):
    """A second training job was asked for while one runs."""


class TrainingJob:
    """One `llm-twin train --events` child: its latest progress, what it said, and its
    outcome once it exits. Updates go to every `updates()` iterator; `live()` gives the
    throttled text of one chat message."""

    def __init__(
        self,
        options: TrainOptions,
        process: asyncio.subprocess.Process,
        log_path: Path,
        started_at: datetime,
    ) -> None:
        self.options = options
        self.process = process
        self.log_path = log_path
        self.started_at = started_at
        self.progress: Progress | None = None
        self.losses: list[tuple[int, float, str]] = []  # (step, loss, stage): a loss chart
        self.messages: list[str] = []
        self.outcome: TrainingDone | None = None
        self.stop_reason: str | None = None
        self.task: asyncio.Task[TrainingDone] | None = None
        self._subscribers: list[asyncio.Queue[TrainingUpdate]] = []
        self._changed = asyncio.Event()
        self._finished = asyncio.Event()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    def updates(self) -> AsyncIterator[TrainingUpdate]:
        """Every update from now on, in order, ending with `TrainingDone` (at once when
        the job has finished already)."""
        queue: asyncio.Queue[TrainingUpdate] = asyncio.Queue()
        if self.outcome is not None:
            queue.put_nowait(self.outcome)
        else:
            self._subscribers.append(queue)
        return self._drain(queue)

    async def _drain(self, queue: asyncio.Queue[TrainingUpdate]) -> AsyncIterator[TrainingUpdate]:
        try:
            while True:
                update = await queue.get()
                yield update
                if isinstance(update, TrainingDone):
                    return
        finally:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(queue)

    async def live(self, interval: float) -> AsyncIterator[str]:
        """The job's `live_text()` whenever it changes, at most once every `interval`
        seconds (the last change is shown once due, never dropped), until the job ends."""
        shown: str | None = None
        last = float("-inf")
        while self.outcome is None:
            changed = self._changed  # taken before reading, so no change slips by
            text = self.live_text()
            if text == shown:
                await changed.wait()
                continue
            due = last + interval - time.monotonic()
            if due > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._finished.wait(), due)
                continue
            yield text
            shown, last = text, time.monotonic()

    async def wait(self) -> TrainingDone:
        await self._finished.wait()
        assert self.outcome is not None
        return self.outcome

    def live_text(self) -> str:
        lines = [f"🏋️ Training: {describe(self.options)} (pid {self.pid})"]
        lines += [_first_line(text) for text in self.messages[-_LIVE_MESSAGES:]]
        lines.append(self.where())
        if self.stop_reason:
            lines.append(f"stopping: {self.stop_reason}…")
        return "\n".join(lines)

    def where(self) -> str:
        """Where the job is: `sft: step 3/10, loss 2.345, 1m02s left, 171 tokens/s`."""
        p = self.progress
        if p is None:
            return "preparing: building the dataset and loading the base model…"
        return f"{p.line()}, {p.tokens_per_s:.0f} tokens/s"

    def terminate(self, reason: str) -> bool:
        """SIGTERM the trainer (once); False when it has exited or is stopping already."""
        if self.stop_reason is not None or self.process.returncode is not None:
            return False
        self.stop_reason = reason
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        self._touch()
        return True

    def _publish(self, update: TrainingUpdate) -> None:
        if isinstance(update, Progress):
            self.progress = update
            if update.loss is not None:
                self.losses.append((update.step, update.loss, update.stage))
        elif isinstance(update, TrainingMessage):
            self.messages.append(update.text)
        else:
            self.outcome = update
            self._finished.set()
        for queue in self._subscribers:
            queue.put_nowait(update)
        self._touch()

    def _touch(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()


class TrainingJobs:
    """Starts and watches training children for one twin, one at a time.

    `command`: the argv that stands for `llm-twin train` (default: the context's
    `trainer`; tests put a small stand-in here); `--events` and the options' flags are
    appended.
    `niceness`: run under `nice -n niceness` where `nice` exists (None: never)."""

    def __init__(
        self,
        context: TrainingContext,
        *,
        command: Sequence[str] | None = None,
        niceness: int | None = 10,
        stop_grace: float = _STOP_GRACE,
    ) -> None:
        self.context = context
        self.command = list(command) if command is not None else list(context.trainer)
        self.niceness = niceness
        self.stop_grace = stop_grace
        self.last: TrainingJob | None = None
        self._lock = asyncio.Lock()

    @property
    def current(self) -> TrainingJob | None:
        """The job running now, if any."""
        return self.last if self.last is not None and not self.last.finished else None

    def argv(self, options: TrainOptions) -> list[str]:
        """The child's command line for `options`."""
        argv = [*self.command, "--events"]
        if options.dpo:
            argv.append("--dpo")
        if options.max_steps is not None:
            argv += ["--max-steps", str(options.max_steps)]
        if options.resume:
            argv += ["--resume", options.resume]
        if not options.evaluate:
            argv.append("--no-eval")
        if not options.promote:
            argv.append("--no-promote")
        nice = shutil.which("nice") if self.niceness is not None else None
        if nice is not None:
            argv = [nice, "-n", str(self.niceness), *argv]
        return argv

    async def start(self, options: TrainOptions) -> TrainingJob:
        """Start a job; `TrainingBusy` (saying where the running one is) if one runs."""
        async with self._lock:
            running = self.current
            if running is not None:
                raise TrainingBusy(
                    f"already training ({running.where()}); send train status to follow "
                    "it or train cancel to stop it"
                )
            argv = self.argv(options)
            started_at = datetime.now(UTC)
            log_path, log_file = self._open_log(started_at)
            try:
                process = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=log_file,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                    start_new_session=True,
                    limit=_LINE_LIMIT,
                )
            except OSError as exc:
                raise TrainingError(f"could not start the trainer ({argv[0]}): {exc}") from exc
            finally:
                log_file.close()  # the child holds its own copy
            log.warning("training started: pid %s, log %s", process.pid, log_path)
            job = TrainingJob(options, process, log_path, started_at)
            job.task = asyncio.create_task(self._follow(job))
            self.last = job
            return job

    async def cancel(self, reason: str = "cancelled from chat") -> TrainingJob | None:
        """Stop the running job (SIGTERM: its run is marked failed and resumable); the
        job, or None when none runs."""
        job = self.current
        if job is None:
            return None
        job.terminate(reason)
        return job

    async def shutdown(self) -> None:
        """The bot is stopping: terminate a running child and wait for it (killed after
        `stop_grace` seconds; the registry then marks its run failed on the next look)."""
        job = self.current
        if job is None or job.task is None:
            return
        job.terminate("the bot is stopping")
        try:
            await asyncio.wait_for(asyncio.shield(job.task), self.stop_grace)
        except TimeoutError:
            log.warning("the trainer (pid %s) ignored SIGTERM; killing it", job.pid)
            with contextlib.suppress(ProcessLookupError):
                job.process.kill()
            await job.task

    async def status_text(self) -> str:
        """`train status`: the running job's progress, else how the last one ended."""
        job = self.last
        if job is not None and job.outcome is None:
            minutes = (datetime.now(UTC) - job.started_at) / timedelta(minutes=1)
            return f"{job.live_text()}\nrunning for {minutes:.0f} min; train cancel stops it"
        if job is not None and job.outcome is not None:
            return "No training running. The last one:\n" + job.outcome.summary()
        runs = await asyncio.to_thread(self.context.registry.runs, 1)
        if not runs:
            return "No training running, and no run yet: send train to fine-tune on your writing."
        run = runs[0]
        why = f" ({run.error})" if run.status == FAILED and run.error else ""
        return f"No training running. The latest run: {run.id}, {run.status}{why}."

    # --- internals ----------------------------------------------------------------------

    def _open_log(self, started_at: datetime) -> tuple[Path, IO[bytes]]:
        folder = self.context.home / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"train-{started_at:%Y%m%d-%H%M%S}.log"
        return path, path.open("ab")

    async def _follow(self, job: TrainingJob) -> TrainingDone:
        """Read the child's events until it exits, then settle the outcome."""
        stdout = job.process.stdout
        assert stdout is not None
        try:
            while True:
                try:
                    line = await stdout.readline()
                except ValueError:  # a line past _LINE_LIMIT: skipped, the rest still read
                    log.warning("trainer pid %s: skipped an overlong output line", job.pid)
                    continue
                if not line:
                    break
                update = parse_event(line)
                if update is not None:
                    job._publish(update)
            code = await job.process.wait()
        except asyncio.CancelledError:
            job.terminate("the bot is stopping")
            raise
        try:
            outcome = await self._outcome(job, code)
        except Exception as exc:  # watchers wait on an outcome: they always get one
            log.exception("settling the training job (pid %s) failed", job.pid)
            outcome = TrainingDone("failed", code, None, error=f"{type(exc).__name__}: {exc}")
        job._publish(outcome)
        log.warning("training ended: %s (exit %s)", outcome.status, code)
        return outcome

    async def _outcome(self, job: TrainingJob, code: int) -> TrainingDone:
        stopped = job.stop_reason is not None and code != 0
        status: Literal["trained", "cancelled", "failed"] = (
            "trained" if code == 0 else "cancelled" if stopped else "failed"
        )
        said, last_line = ("", "")
        if code != 0:
            said, last_line = await asyncio.to_thread(_stderr_error, job.log_path)
        run: Run | None = None
        promoted = swapped = False
        try:
            run, active = await asyncio.to_thread(self._registry_view, job)
            promoted = code == 0 and run is not None and active is not None and active.id == run.id
        except TwinError as exc:
            log.error("could not read the training run from the registry: %s", exc)
        # The CLI's own "error: ..." line, else the reason the run recorded, else the
        # last thing the child wrote (a traceback's exception) or said.
        run_error = run.error if run is not None and run.status == FAILED else None
        error = said or run_error or last_line or (job.messages[-1] if job.messages else "")
        if code == 0:
            error = ""
        if promoted:
            try:
                swapped = await self.context.follow_active_model()
            except TwinError as exc:
                log.error("could not swap in the newly trained model: %s", exc)
        return TrainingDone(
            status,
            code,
            run,
            promoted=promoted,
            swapped=swapped,
            error=error,
            stop_reason=job.stop_reason or "",
            messages=tuple(job.messages),
            log_path=job.log_path,
        )

    def _registry_view(self, job: TrainingJob) -> tuple[Run | None, Run | None]:
        """The job's run (the resumed one, or the first registered after it started) and
        the active model."""
        models = self.context.registry
        if job.options.resume:
            run = models.get(job.options.resume)
        else:
            since = job.started_at - timedelta(seconds=1)
            mine = [r for r in models.runs(10) if r.created_at >= since]
            run = mine[-1] if mine else None
        return run, models.active()


def _stderr_error(log_path: Path, tail_bytes: int = 65536) -> tuple[str, str]:
    """From the end of the child's stderr: its `error: ...` line (a TwinError, as the CLI
    prints it) or "", and its last line."""
    try:
        with log_path.open("rb") as file:
            file.seek(max(0, log_path.stat().st_size - tail_bytes))
            tail = file.read().decode(errors="replace")
    except OSError:
        return "", ""
    lines = [line.strip() for line in tail.replace("\r", "\n").splitlines() if line.strip()]
    said = next((x.removeprefix("error: ") for x in reversed(lines) if x.startswith("error: ")), "")
    return said, lines[-1] if lines else ""


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"
