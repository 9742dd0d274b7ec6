"""EXL2 quantization: exllamav2's own converter, run in a subprocess.

This is the one place that knows the converter's command line (`python -m
exllamav2.conversion.convert_exl2`, flags as in exllamav2 0.3.2). Its measurement pass
(how much each layer suffers at each bitrate) is most of its run time and depends only on
the model and the calibration data, so it is saved beside the model and reused for any
later bitrate. The EXL2 folder is compiled aside and renamed into place: complete or
absent. Needs CUDA; elsewhere the merged HF folder serves through the `hf` backend.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError, GenerationError, InputError
from training.export import replace_folder

log = logging.getLogger(__name__)

# The converter, after `sys.executable`; tests point it at a stand-in script.
CONVERTER: tuple[str, ...] = ("-m", "exllamav2.conversion.convert_exl2")
HEAD_BITS = (2, 3, 4, 5, 6, 8)  # exllamav2.conversion.qparams.qparams_headoptions
_TAIL_LINES = 30  # of the converter's output, quoted when it fails
# Calibration rows are cut at ~this many characters per token when no counter is given:
# about twice the characters of a token of English prose, so rows are rarely short.
_CHARS_PER_TOKEN = 8
_MARGIN = 1.2  # converter tokenizers split a little differently from transformers'

Progress = Callable[[str], None]


@dataclass(frozen=True)
class QuantizeResult:
    out_dir: Path
    measurement: Path  # where the measurement lives (reused for other bitrates)
    seconds: float  # 0.0 when `out_dir` already held this quantization
    size_bytes: int  # all files of the EXL2 folder
    measured: bool = False  # whether this call ran the measurement pass


def cuda_missing_reason() -> str | None:
    """None when the converter can run here (torch sees a CUDA GPU; exllamav2 and the
    parquet readers it uses are installed), else one line saying what to do.

    exllamav2 is found, not imported: importing it loads (or first builds) its CUDA
    extension, which the converter's own process does anyway; a failing build surfaces
    there, in the converter's output."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return "EXL2 quantization needs torch with CUDA; pip install a CUDA build of torch"
    serve_hf = (
        'the merged model serves as is through the hf backend (model.backend = "hf", '
        "model.path = the merged folder)"
    )
    if not torch.cuda.is_available():
        return (
            "EXL2 quantization needs a CUDA GPU and none is visible "
            f"(torch.cuda.is_available() is False); {serve_hf}, or quantize on a machine "
            "with CUDA"
        )
    for module, install in [
        ("exllamav2", "pip install 'llm-twin[exl2]' (needs CUDA and nvcc)"),
        ("pandas", "pip install pandas"),
        ("fastparquet", "pip install fastparquet"),
    ]:
        if importlib.util.find_spec(module) is None:
            return f"EXL2 quantization needs {module}: {install}; until then {serve_hf}"
    return None


def default_measurement_path(model_dir: Path) -> Path:
    """`<parent>/<model folder>.measurement.json`: beside the model, not inside it (the
    converter copies every file of the model folder into the EXL2 folder)."""
    return model_dir.parent / f"{model_dir.name}.measurement.json"


def write_calibration(
    texts: Sequence[str],
    path: Path,
    rows: int,
    length: int,
    *,
    count_tokens: Callable[[str], int] | None = None,
) -> Path:
    """A parquet (one `text` column) of `rows` rows, each at least `length` tokens of the
    owner's text: the texts in turn, repeated as needed. The converter joins the rows'
    tokens and takes rows x length of them, failing when fewer exist.

    `count_tokens` should be the model's tokenizer; without it rows are cut by character
    count, generously."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if rows < 1 or length < 1:
        raise ValueError(f"rows and length must be positive (got {rows}, {length})")
    pieces = [t.strip() for t in texts if t.strip()]
    if not pieces:
        raise InputError(
            "calibration", "there is no text to calibrate on; ingest some of your writing first"
        )
    wanted = int(length * _MARGIN) + 1
    counted = count_tokens or _rough_token_count
    table: list[str] = []
    turn = 0
    for _ in range(rows):
        parts: list[str] = []
        total = 0
        while total < wanted:
            piece = pieces[turn % len(pieces)]
            turn += 1
            parts.append(piece)
            total += max(counted(piece), 1)
        table.append("\n\n".join(parts))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"text": table}), path)
    return path


def quantize_exl2(
    model_dir: Path,
    out_dir: Path,
    *,
    bits: float,
    head_bits: int,
    work_dir: Path,
    measurement: Path | None = None,
    calibration: Path | None = None,
    progress: Progress | None = None,
    rows: int | None = None,
    measurement_rows: int | None = None,
    length: int | None = None,
    measurement_length: int | None = None,
    overwrite: bool = False,
) -> QuantizeResult:
    """Quantize the HF model in `model_dir` to EXL2 in `out_dir` (`bits` per weight,
    `head_bits` for the output layer).

    `measurement` is the model's measurement file (default `default_measurement_path`):
    reused when it exists and is newer than the weights, else measured and saved there.
    `calibration` is a parquet from `write_calibration` (default: exllamav2's own
    built-in data); `rows`/`length` and their `measurement_` twins default to the
    converter's own (100/2048 and 16/2048). The converter's output lines go to
    `progress`. `work_dir` holds the converter's scratch job (hidden states: about the
    model's size), removed afterwards. An `out_dir` that already holds this quantization
    is returned as is unless `overwrite`."""
    model_dir, out_dir, work_dir = Path(model_dir), Path(out_dir), Path(work_dir)
    measurement = Path(measurement) if measurement else default_measurement_path(model_dir)
    _check_bits(bits, head_bits)
    if _already_quantized(out_dir, bits, head_bits, overwrite=overwrite):
        return QuantizeResult(out_dir, measurement, 0.0, _size(out_dir))
    _check_can_run(model_dir, calibration)
    reuse = _reusable(measurement, model_dir)

    job, partial = _scratch(work_dir, out_dir)
    command = [sys.executable, *CONVERTER, "-i", str(model_dir), "-o", str(job), "-nr"]
    command += ["-cf", str(partial), "-b", str(bits), "-hb", str(head_bits)]
    command += _given_flags(
        ("-m", measurement if reuse else None),
        ("-c", calibration),
        ("-r", rows),
        ("-mr", measurement_rows),
        ("-l", length),
        ("-ml", measurement_length),
    )
    log.info("quantizing %s to %g bpw: %s", model_dir, bits, " ".join(command))
    started = time.perf_counter()
    try:
        code, tail = _convert(command, progress, job, measurement, reuse=reuse)
        _check_compiled(partial, bits, code, tail, model_dir)
        replace_folder(partial, out_dir)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(job, ignore_errors=True)
    seconds = time.perf_counter() - started
    return QuantizeResult(out_dir, measurement, seconds, _size(out_dir), measured=not reuse)


def _check_bits(bits: float, head_bits: int) -> None:
    if not 2.0 <= bits <= 8.0:
        raise ConfigError(f"EXL2 bits per weight must be 2.0..8.0 (got {bits:g})")
    if head_bits not in HEAD_BITS:
        raise ConfigError(f"EXL2 head bits must be one of {HEAD_BITS} (got {head_bits})")


def _already_quantized(out_dir: Path, bits: float, head_bits: int, *, overwrite: bool) -> bool:
    """Whether `out_dir` already holds this quantization; raises when it holds anything
    else that `overwrite` does not allow replacing."""
    existing = _quantization(out_dir)
    if existing is not None and not overwrite:
        if existing.get("bits") == bits and existing.get("head_bits") == head_bits:
            return True
        raise ConfigError(
            f"{out_dir} already holds a {existing.get('bits')} bpw EXL2 model; choose "
            f"another folder for {bits:g} bpw, or overwrite it"
        )
    if existing is None and out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise ConfigError(
            f"{out_dir} exists and is not an EXL2 model folder; choose an empty or new folder"
        )
    return False


def _check_can_run(model_dir: Path, calibration: Path | None) -> None:
    """CUDA and the converter are here, and its inputs exist: refused before any work."""
    if (reason := cuda_missing_reason()) is not None:
        raise ConfigError(reason)
    _check_model(model_dir)
    if calibration is not None and not calibration.is_file():
        raise ConfigError(
            f"calibration file {calibration} does not exist; make it with write_calibration"
        )


def _scratch(work_dir: Path, out_dir: Path) -> tuple[Path, Path]:
    """A fresh job folder for the converter, and the folder it compiles into: beside
    `out_dir`, so that the finished folder is renamed into place."""
    work_dir.mkdir(parents=True, exist_ok=True)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    job = Path(tempfile.mkdtemp(prefix="exl2-job-", dir=work_dir))
    partial = out_dir.with_name(f".{out_dir.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    return job, partial


def _given_flags(*pairs: tuple[str, object | None]) -> list[str]:
    """The converter's optional flags, each with its value; those without one are left
    to the converter's defaults."""
    return [part for flag, value in pairs if value is not None for part in (flag, str(value))]


def _convert(
    command: list[str], progress: Progress | None, job: Path, measurement: Path, *, reuse: bool
) -> tuple[int, list[str]]:
    """Run the converter; (exit code, last lines). A measurement it made is kept."""
    code, tail = _run(command, progress)
    if not reuse and (job / "measurement.json").is_file():
        # Saved even when a later stage failed: the next try skips the long part.
        _save_measurement(job / "measurement.json", measurement)
    return code, tail


def _check_compiled(
    partial: Path, bits: float, code: int, tail: list[str], model_dir: Path
) -> None:
    made = _quantization(partial)
    # The converter exits 0 after some of its own errors: trust the folder, not the code.
    if code != 0 or made is None or made.get("bits") != bits:
        raise GenerationError(
            f"exllamav2's converter failed on {model_dir} (exit {code}); its last lines:\n"
            + "\n".join(tail)
        )


def _rough_token_count(text: str) -> int:
    return len(text) // _CHARS_PER_TOKEN


def _check_model(model_dir: Path) -> None:
    if not (model_dir / "config.json").is_file() or not any(model_dir.glob("*.safetensors")):
        what = "does not exist" if not model_dir.exists() else "has no config.json or safetensors"
        raise ConfigError(
            f"model folder {model_dir} {what}; quantize the merged HF folder that "
            "training.export.merge_adapter wrote"
        )


def _reusable(measurement: Path, model_dir: Path) -> bool:
    """Whether `measurement` holds a converter measurement made after the weights were
    last written (a re-merged model is measured again)."""
    if not measurement.is_file():
        return False
    try:
        data = json.loads(measurement.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict) or not {"measurement", "last_module_idx"} <= data.keys():
        raise ConfigError(
            f"{measurement} is not an exllamav2 measurement file; delete it to measure again"
        )
    newest = max(p.stat().st_mtime for p in model_dir.glob("*.safetensors"))
    if measurement.stat().st_mtime < newest:
        log.info("%s is older than the weights of %s: measuring again", measurement, model_dir)
        return False
    return True


def _save_measurement(made: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    shutil.copyfile(made, partial)
    os.replace(partial, target)


def _run(command: list[str], progress: Progress | None) -> tuple[int, list[str]]:
    """Run the converter, handing each output line to `progress`; (exit code, last
    lines). Stopped (SIGTERM, then SIGKILL) if the caller is interrupted."""
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,  # its Ctrl-C handler asks on stdin: EOF, not a hang
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,  # universal newlines: its \r progress updates arrive as lines too
        errors="replace",
        env=env,
    ) as proc:
        assert proc.stdout is not None
        try:
            for raw in proc.stdout:
                line = raw.rstrip()
                if not line:
                    continue
                tail.append(line)
                if progress is not None:
                    progress(line)
            code = proc.wait()
        except BaseException:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
    return code, list(tail)


def _quantization(folder: Path) -> dict[str, Any] | None:
    """The EXL2 `quantization_config` of a compiled folder, or None."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    quant = config.get("quantization_config") if isinstance(config, dict) else None
    if not isinstance(quant, dict) or quant.get("quant_method") != "exl2":
        return None
    if not any(folder.glob("*.safetensors")):
        return None
    return quant


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
