"""The trainer's side of `llm-twin train --events` and what the bot makes of it.

The child writes one JSON object per line: `{"event": "message", "text": ...}` or
`{"event": "progress", <Progress fields>}` (`event_line`); the bot reads them back
(`parse_event`) and ends each job with a `TrainingDone`, whose `summary` is the chat's
final word on it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

from training.lora import Progress
from training.registry import TRAINED, Run
from training.run import TrainOptions

log = logging.getLogger(__name__)

_SUMMARY_CHARS = 3000
_PROGRESS_FIELDS = tuple(f.name for f in fields(Progress))


@dataclass(frozen=True, slots=True)
class TrainingMessage:
    """A line the trainer says ("dataset ...: 40 train and 5 test examples")."""

    text: str


@dataclass(frozen=True)
class TrainingDone:
    """How a job ended: `trained` (exit 0), `cancelled` (we stopped it) or `failed`."""

    status: Literal["trained", "cancelled", "failed"]
    exit_code: int
    run: Run | None
    promoted: bool = False
    swapped: bool = False  # the serving bot now drafts with the promoted run
    error: str = ""
    stop_reason: str = ""
    messages: tuple[str, ...] = ()
    log_path: Path | None = None

    def summary(self) -> str:
        run = self.run
        if self.status == "trained":
            head = "✅ Training finished" + (f": run {run.id} is trained." if run else ".")
            if self.promoted:
                head += " It beat the model before it and is now the active model"
                head += "; new drafts use it." if self.swapped else "."
            elif run is not None:
                head += f" Not promoted; `models activate {run.id}` drafts with it anyway."
        elif self.status == "cancelled":
            head = f"⏹ Training cancelled ({self.stop_reason}). {_run_hint(run)}"
        else:
            head = f"⚠️ Training failed ({_exit(self.exit_code)}): {self.error or 'no reason given'}"
            head += f"\n{_run_hint(run)}"
            if self.log_path is not None:
                head += f"\nLog: {self.log_path}"
        said = "\n".join(self.messages)
        if len(said) > _SUMMARY_CHARS:
            said = "…" + said[-_SUMMARY_CHARS:]
        return f"{head}\n\n{said}" if said else head


def _run_hint(run: Run | None) -> str:
    """What the owner can do with the run a stopped job leaves behind."""
    if run is None:
        return "No run was registered yet; send `train` to start again."
    if run.status == TRAINED:
        return (
            f"Run {run.id} had finished training (its evaluation was cut short); "
            f"`models activate {run.id}` drafts with it."
        )
    return f"Run {run.id} is marked failed; send `train resume {run.id}` to take it back up."


def _exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit {code}"


TrainingUpdate = Progress | TrainingMessage | TrainingDone


def describe(options: TrainOptions) -> str:
    """What a job does, e.g. `SFT then DPO, at most 50 steps`."""
    if options.resume:
        return f"resuming run {options.resume}"
    what = "SFT then DPO" if options.dpo else "SFT"
    if options.max_steps is not None:
        what += f", at most {options.max_steps} steps"
    return what


def parse_event(line: bytes) -> Progress | TrainingMessage | None:
    """One line of `train --events` output; None (logged) for anything else."""
    try:
        data = json.loads(line)
    except ValueError:
        log.info("trainer: %s", line.decode(errors="replace").rstrip())
        return None
    if not isinstance(data, dict):
        return None
    event = data.get("event")
    if event == "message":
        return TrainingMessage(str(data.get("text", "")))
    if event == "progress":
        try:
            return Progress(**{name: data[name] for name in _PROGRESS_FIELDS})
        except KeyError as exc:
            log.warning("trainer: a progress event without %s: %s", exc, data)
    return None


def event_line(update: Progress | TrainingMessage) -> str:
    """One line of `train --events` output (what `parse_event` reads back)."""
    if isinstance(update, TrainingMessage):
        return json.dumps({"event": "message", "text": update.text})
    return json.dumps({"event": "progress", **update.to_json()})
