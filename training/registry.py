"""The model registry: every training run, and which one the bot drafts with.

Two tables in the warehouse's database, owned by this package: `training_runs` (one row
per `llm-twin train`: its resolved config, dataset hash, status, metrics and the folders
it wrote) and `active_model` (one row: the run now serving, or none for the configured
base model). A run is registered as "running" before its first step and ends "trained" or
"failed"; a run whose process died without saying so is found by its pid and marked
failed, so the registry never shows a half-finished run as usable. Only a trained run can
be activated; a serving bot polls `active()` and swaps the new model in.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc

from core.errors import ConfigError, InputError
from ingest.warehouse.migrations import Migration, run_migrations
from ingest.warehouse.schema import UTCDateTime
from ingest.warehouse.store import Warehouse
from model.settings import ModelSettings

RUNNING, TRAINED, FAILED = "running", "trained", "failed"

metadata = sa.MetaData()

runs = sa.Table(
    "training_runs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("stage", sa.String(16), nullable=False),
    sa.Column("base_model", sa.Text, nullable=False),
    sa.Column("dataset_hash", sa.String(64), nullable=False),
    sa.Column("dataset_folder", sa.Text, nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("paths", sa.JSON, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("pid", sa.Integer, nullable=True),
    sa.Column("host", sa.String(255), nullable=False),
)

active_model = sa.Table(
    "active_model",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.String(40), nullable=True),
    sa.Column("activated_at", UTCDateTime, nullable=False),
)


@dataclass(frozen=True)
class Run:
    id: str
    created_at: datetime
    status: str
    stage: str
    base_model: str
    dataset_hash: str
    dataset_folder: str
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    finished_at: datetime | None = None
    pid: int | None = None
    host: str = ""

    def trained_adapter(self, action: str) -> Path:
        """This run's adapter folder, or an InputError saying the run cannot be `action`."""
        adapter = self.paths.get("adapter")
        if self.status != TRAINED or not adapter:
            raise InputError(self.id, f"this run is {self.status}; only a trained run is {action}")
        return Path(adapter)

    def model_settings(self, model: ModelSettings) -> ModelSettings:
        """`[model]` pointed at what this run trained, or a ConfigError saying why the
        configured backend cannot serve it: its adapter on its base with hf, its EXL2 build
        with exl2 (`llm-twin quantize` makes it). The openai backend serves whatever its
        server loaded, so a run cannot be swapped in there."""
        if model.backend == "openai":
            merged = self.paths.get("merged") or f"llm-twin quantize {self.id} makes it"
            raise ConfigError(
                f"model.backend is openai: load run {self.id}'s merged model ({merged}) "
                "on the server instead"
            )
        if model.backend == "llamacpp":
            return self._gguf_settings(model)
        if model.backend == "exl2":
            exl2 = self.paths.get("exl2")
            if not exl2:
                raise ConfigError(
                    f"run {self.id} has no EXL2 build for the exl2 backend; run "
                    f"`llm-twin quantize {self.id}` on a CUDA machine"
                )
            return replace(model, path=exl2, adapter="")
        adapter = self.paths.get("adapter")
        if not adapter:
            raise ConfigError(f"run {self.id} has no adapter; it did not finish training")
        return replace(model, path=self.base_model, gguf_file="", adapter=adapter)

    def _gguf_settings(self, model: ModelSettings) -> ModelSettings:
        """The base GGUF with this run's adapter in GGUF form (`llm-twin export gguf`)."""
        base, adapter = self.paths.get("base_gguf"), self.paths.get("gguf_adapter")
        if not base:
            raise ConfigError(
                f"run {self.id} was trained on {self.base_model}, not on a GGUF, so llama.cpp "
                'has no base to put its adapter on; serve it with model.backend = "hf"'
            )
        if not adapter:
            raise ConfigError(
                f"run {self.id} has no GGUF adapter for the llamacpp backend; run "
                f"`llm-twin export gguf {self.id}`"
            )
        return replace(model, path=base, gguf_file="", adapter=adapter)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "status": self.status,
            "stage": self.stage,
            "base_model": self.base_model,
            "dataset_hash": self.dataset_hash,
            "dataset_folder": self.dataset_folder,
            "config": self.config,
            "metrics": self.metrics,
            "paths": self.paths,
            "error": self.error,
        }


class Registry:
    """Training runs and the active model in the warehouse database (migrated on open)."""

    def __init__(self, warehouse: Warehouse) -> None:
        self._warehouse = warehouse
        with warehouse.guard("creating the model registry tables"):
            run_migrations(warehouse.engine, TRAINING_MIGRATIONS)

    # --- runs ---------------------------------------------------------------------------

    def start(
        self,
        *,
        base_model: str,
        dataset_hash: str,
        dataset_folder: str,
        config: Mapping[str, Any],
        run_id: str | None = None,
    ) -> Run:
        """Register a new run as running, owned by this process."""
        now = datetime.now(UTC)
        run_id = run_id or f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
        row = {
            "id": run_id,
            "created_at": now,
            "status": RUNNING,
            "stage": "sft",
            "base_model": base_model,
            "dataset_hash": dataset_hash,
            "dataset_folder": dataset_folder,
            "config": dict(config),
            "metrics": {},
            "paths": {},
            "pid": os.getpid(),
            "host": socket.gethostname(),
        }
        with self._write("registering a training run") as conn:
            conn.execute(runs.insert().values(**row))
        run = self.get(run_id)
        assert run is not None
        return run

    def resume(self, run_id: str) -> Run:
        """Take a failed run back up in this process (its checkpoints stay where they were)."""
        run = self.require(run_id)
        if run.status == RUNNING and self._alive(run):
            raise InputError(run_id, f"this run is still running (pid {run.pid})")
        if run.status == TRAINED:
            raise InputError(run_id, "this run finished already; start a new one instead")
        self.update(run_id, status=RUNNING, error=None, pid=os.getpid(), finished_at=None)
        return self.require(run_id)

    def update(self, run_id: str, **values: Any) -> None:
        with self._write("updating a training run") as conn:
            conn.execute(runs.update().where(runs.c.id == run_id).values(**values))

    def set_stage(self, run_id: str, stage: str) -> None:
        self.update(run_id, stage=stage)

    def add_paths(self, run_id: str, **paths: str) -> None:
        run = self.require(run_id)
        self.update(run_id, paths={**run.paths, **paths})

    def add_metrics(self, run_id: str, metrics: Mapping[str, Any]) -> None:
        run = self.require(run_id)
        self.update(run_id, metrics={**run.metrics, **metrics})

    def finish(self, run_id: str) -> None:
        self.update(run_id, status=TRAINED, finished_at=datetime.now(UTC), pid=None)

    def fail(self, run_id: str, error: str) -> None:
        self.update(
            run_id, status=FAILED, error=error[:2000], finished_at=datetime.now(UTC), pid=None
        )

    def get(self, run_id: str) -> Run | None:
        with self._read("reading a training run") as conn:
            row = conn.execute(runs.select().where(runs.c.id == run_id)).mappings().first()
        return None if row is None else _run(row)

    def require(self, run_id: str) -> Run:
        run = self.get(run_id)
        if run is None:
            raise InputError(run_id, "no such training run; `llm-twin models list` shows them")
        return run

    def runs(self, limit: int = 50) -> list[Run]:
        self.reap()
        query = runs.select().order_by(runs.c.created_at.desc()).limit(limit)
        with self._read("listing training runs") as conn:
            return [_run(row) for row in conn.execute(query).mappings()]

    def latest(self, status: str = TRAINED) -> Run | None:
        query = (
            runs.select().where(runs.c.status == status).order_by(runs.c.created_at.desc()).limit(1)
        )
        with self._read("reading training runs") as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _run(row)

    def reap(self) -> list[str]:
        """Mark runs whose process is gone (killed, out of memory, rebooted) as failed."""
        with self._read("reading training runs") as conn:
            rows = conn.execute(runs.select().where(runs.c.status == RUNNING)).mappings()
            running = [_run(row) for row in rows]
        dead = [run.id for run in running if not self._alive(run)]
        for run_id in dead:
            self.fail(run_id, "the training process ended without finishing (killed?)")
        return dead

    # --- the active model ---------------------------------------------------------------

    def active(self) -> Run | None:
        """The run the bot drafts with, or None for the configured base model."""
        with self._read("reading the active model") as conn:
            run_id = conn.execute(
                sa.select(active_model.c.run_id).where(active_model.c.id == 1)
            ).scalar()
        return None if run_id is None else self.get(run_id)

    def activate(self, run_id: str | None) -> Run | None:
        """Make `run_id` (a trained run) the active model; None goes back to the base."""
        run = None
        if run_id is not None:
            run = self.require(run_id)
            if run.status != TRAINED:
                raise InputError(
                    run_id, f"this run is {run.status}, not trained; only a trained run serves"
                )
        try:
            self._set_active(run_id)
        except sa_exc.IntegrityError:  # another process made the row just now: update it
            self._set_active(run_id)
        return run

    def _set_active(self, run_id: str | None) -> None:
        now = datetime.now(UTC)
        with self._write("activating a model") as conn:
            updated = conn.execute(
                active_model.update()
                .where(active_model.c.id == 1)
                .values(run_id=run_id, activated_at=now)
            ).rowcount
            if not updated:
                conn.execute(active_model.insert().values(id=1, run_id=run_id, activated_at=now))

    # --- internals ----------------------------------------------------------------------

    @contextmanager
    def _read(self, action: str) -> Iterator[Connection]:
        with self._warehouse.guard(action), self._warehouse.engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self, action: str) -> Iterator[Connection]:
        with self._warehouse.guard(action), self._warehouse.writer.begin() as conn:
            yield conn

    @staticmethod
    def _alive(run: Run) -> bool:
        if run.pid is None:
            return False
        if run.host != socket.gethostname():
            return True  # another machine's run: trust its status
        try:
            os.kill(run.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _run(row: sa.RowMapping) -> Run:
    return Run(
        id=row["id"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        status=row["status"],
        stage=row["stage"],
        base_model=row["base_model"],
        dataset_hash=row["dataset_hash"],
        dataset_folder=row["dataset_folder"],
        config=dict(row["config"]),
        metrics=dict(row["metrics"]),
        paths=dict(row["paths"]),
        error=row["error"],
        pid=row["pid"],
        host=row["host"],
    )


# --- migrations: append only ------------------------------------------------------------


def _0001_runs_active(conn: Connection) -> None:
    md = sa.MetaData()
    stamp = sa.DateTime(timezone=True)
    sa.Table(
        "training_runs",
        md,
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("created_at", stamp, nullable=False),
        sa.Column("finished_at", stamp, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("base_model", sa.Text, nullable=False),
        sa.Column("dataset_hash", sa.String(64), nullable=False),
        sa.Column("dataset_folder", sa.Text, nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("paths", sa.JSON, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("pid", sa.Integer, nullable=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Index("ix_training_runs_created_at", "created_at"),
        sa.Index("ix_training_runs_status", "status"),
    )
    sa.Table(
        "active_model",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("run_id", sa.String(40), nullable=True),
        sa.Column("activated_at", stamp, nullable=False),
    )
    md.create_all(conn, checkfirst=False)


TRAINING_MIGRATIONS: tuple[Migration, ...] = (
    Migration("training.0001_runs_active", _0001_runs_active),
)
