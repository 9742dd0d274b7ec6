"""`llm-twin export gguf`: a trained run's adapter for llama.cpp and Ollama."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli.context import LazyTwin
from core.errors import InputError

if TYPE_CHECKING:
    from bot.twin import Twin
    from training.registry import Run


@click.group("export")
def export() -> None:
    """A trained run in other formats (`quantize` makes the merged and EXL2 ones)."""


@export.command("gguf")
@click.argument("run_id", metavar="[RUN]", required=False)
@click.option(
    "--base-gguf",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The GGUF of the run's base model (default: the one the run was trained from).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder to write into (default: the run's gguf/ folder).",
)
@click.pass_obj
def gguf(lazy: LazyTwin, run_id: str | None, base_gguf: Path | None, out: Path | None) -> None:
    """Write RUN's LoRA adapter (default: the active run, else the latest trained) as a
    GGUF LoRA adapter, with an Ollama Modelfile beside it, and print the llama-server
    command that serves it on its base GGUF."""
    from training.gguf_export import BASE_PLACEHOLDER, export_run

    with lazy.twin(serve_active=False) as twin:
        run = _run(twin, run_id)
        done = export_run(twin.models, run, base_gguf=base_gguf, out_dir=out)
    click.echo(
        f"wrote {done.adapter} ({done.tensors} LoRA tensor pairs, {done.arch}, "
        f"alpha {done.alpha:g})"
    )
    if done.base_gguf is None:
        click.echo(
            f"no GGUF of run {run.id}'s base is recorded: make one with llama.cpp's "
            f"`python convert_hf_to_gguf.py {shlex.quote(run.base_model)} --outfile base.gguf`, "
            f"then rerun with --base-gguf base.gguf (or replace {BASE_PLACEHOLDER} below)"
        )
    click.echo(f"wrote {done.modelfile}: ollama create twin -f {shlex.quote(str(done.modelfile))}")
    click.echo(f"serve it with llama.cpp: {done.server_command()}")
    if done.base_gguf is not None:
        settings = {
            "backend": "llamacpp",
            "path": str(done.base_gguf),
            "adapter": str(done.adapter),
        }
        click.echo(
            "or draft with it here: "
            + ", ".join(f"model.{key} = {json.dumps(value)}" for key, value in settings.items())
        )


def _run(twin: Twin, run_id: str | None) -> Run:
    """RUN, else the active run, else the latest trained one."""
    run = twin.models.require(run_id) if run_id else twin.models.active() or twin.models.latest()
    if run is None:
        raise InputError("RUN", "there is no trained run yet; `llm-twin train` makes one")
    return run
