"""Models pulled by name from the Hugging Face hub, and the models already on disk.

`pull` is the one place this project downloads weights, and only when the owner asks
(`llm-twin models pull`). Everything else stays offline (core/offline.py): huggingface_hub
reads the offline switch once, at import, into a module constant, so going online inside
this process would let every later load here reach the network, and a model loaded on
another thread meanwhile would too (patching the constant for one call has the same
race). The download therefore runs in a child process started with the hub allowed
(model/hub_download.py); this process never changes its switch. HF_ENDPOINT,
HF_TOKEN and HF_HOME reach the child with the rest of the environment.

Pulled files go into the local HF cache, where the hf backend finds a repo id offline
(`model.path = "OWNER/NAME"`) and a pulled GGUF has a stable path (snapshots/<commit>/...).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError, TwinError
from core.offline import hub_online_environment, stay_offline
from model.settings import ModelSettings


class PullError(TwinError):
    """A model could not be pulled; the message names the repo and what to do."""


@dataclass(frozen=True)
class PulledFile:
    name: str
    path: Path
    size: int
    downloaded: int  # bytes fetched by this pull (0: already in the cache)
    check: str  # "sha256", "git-sha1", "size" or "cached"


@dataclass(frozen=True)
class Pulled:
    repo: str
    revision: str
    commit: str
    file: str | None
    folder: Path  # the snapshot folder in the HF cache
    files: tuple[PulledFile, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def downloaded(self) -> int:
        return sum(f.downloaded for f in self.files)

    def settings(self) -> dict[str, str]:
        """The config keys that draft with it: the GGUF's path; for a folder the repo id
        (the hf backend resolves it from the cache) unless another revision than main
        was pulled, and for an EXL2 folder its path with the exl2 backend."""
        if self.file:
            return {"model.path": str(self.files[0].path)}
        if _is_exl2(self.folder):
            return {"model.backend": "exl2", "model.path": str(self.folder)}
        if self.revision != "main":
            return {"model.path": str(self.folder)}
        return {"model.path": self.repo}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pulled:
        files = tuple(
            PulledFile(f["name"], Path(f["path"]), f["size"], f["downloaded"], f["check"])
            for f in data["files"]
        )
        return cls(
            data["repo"], data["revision"], data["commit"], data["file"],
            Path(data["folder"]), files,
        )  # fmt: skip


def pull(repo: str, *, file: str | None = None, revision: str | None = None) -> Pulled:
    """Download `file` of `repo` (else its model folder) into the HF cache, resuming what
    an earlier pull left and checking every file; progress bars go to stderr."""
    request = json.dumps({"repo": repo, "file": file or None, "revision": revision or None})
    answer = _run_download(repo, request)
    if "error" in answer:
        raise PullError(str(answer["error"]))
    return Pulled.from_json(answer["ok"])


def _run_download(repo: str, request: str) -> dict[str, Any]:
    child = subprocess.Popen(
        [sys.executable, "-m", "model.hub_download"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=hub_online_environment(),
        text=True,
    )
    try:
        out, _ = child.communicate(request + "\n")
    except KeyboardInterrupt:
        # Ctrl-C reached the child too: let it close its partial file, kept for a resume.
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        raise
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            try:
                answer: dict[str, Any] = json.loads(line)
            except ValueError:
                break
            return answer
    raise PullError(
        f"pulling {repo} failed: the download process exited with status {child.returncode} "
        "without an answer (see the lines above)"
    )


def _is_exl2(folder: Path) -> bool:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    quantization = config.get("quantization_config") if isinstance(config, dict) else None
    return isinstance(quantization, dict) and quantization.get("quant_method") == "exl2"


# --- what is on disk ------------------------------------------------------------------


@dataclass(frozen=True)
class LocalModel:
    name: str
    where: str  # "hub cache", "models folder", "bundled" or "partial download"
    size: int
    path: Path
    setting: str  # the model.path that drafts with it ("" for a partial download)
    configured: bool = False

    def to_json(self) -> dict[str, Any]:
        return {**vars(self), "path": str(self.path)}


def hub_cache_dir() -> Path:
    """Where huggingface_hub keeps models (HF_HUB_CACHE, else $HF_HOME/hub)."""
    stay_offline()
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def available(
    settings: ModelSettings, models_dir: Path, hub_cache: Path | None = None
) -> list[LocalModel]:
    """The models on disk: the HF cache's (repo folders and each GGUF), the GGUFs under
    `models_dir`, the bundled default, and partial downloads; the configured one marked."""
    found = [
        *_hub_models(hub_cache or hub_cache_dir()),
        *_folder_models(models_dir),
        *_bundled(),
    ]
    return [
        LocalModel(m.name, m.where, m.size, m.path, m.setting, _is_configured(m, settings))
        for m in found
    ]


def _hub_models(cache: Path) -> list[LocalModel]:
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(cache)
    except CacheNotFound:
        return []
    found: list[LocalModel] = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        for rev in sorted(repo.revisions, key=lambda r: r.commit_hash):
            for f in sorted(rev.files, key=lambda f: str(f.file_path)):
                if f.file_name.endswith(".gguf"):
                    inner = f.file_path.relative_to(rev.snapshot_path)
                    name = f"{repo.repo_id} {inner}"
                    found.append(
                        LocalModel(name, "hub cache", f.size_on_disk, f.file_path, str(f.file_path))
                    )
            if any(f.file_name == "config.json" for f in rev.files):
                on_main = "main" in rev.refs
                name = repo.repo_id if on_main else f"{repo.repo_id}@{rev.commit_hash[:10]}"
                setting = repo.repo_id if on_main else str(rev.snapshot_path)
                found.append(
                    LocalModel(name, "hub cache", rev.size_on_disk, rev.snapshot_path, setting)
                )
    for partial in sorted(info.incomplete_files, key=lambda p: str(p.file_path)):
        name = partial.file_path.parent.parent.name  # models--OWNER--NAME
        repo_id = name.removeprefix("models--").replace("--", "/")
        found.append(
            LocalModel(repo_id, "partial download", partial.size_on_disk, partial.file_path, "")
        )
    return found


def _folder_models(models_dir: Path) -> list[LocalModel]:
    if not models_dir.is_dir():
        return []
    found = []
    for path in sorted(models_dir.rglob("*.gguf")):
        if path.is_file():
            name = str(path.relative_to(models_dir))
            found.append(LocalModel(name, "models folder", path.stat().st_size, path, str(path)))
    return found


def _bundled() -> list[LocalModel]:
    from model.hf import default_model_source

    try:
        source = default_model_source()
    except ConfigError:
        return []
    path = Path(source.location) / (source.gguf_file or "")
    return [LocalModel(path.name, "bundled", path.stat().st_size, path, "")]


def _is_configured(model: LocalModel, settings: ModelSettings) -> bool:
    """Whether `[model]` names this one: the bundled default when model.path is empty."""
    if model.where == "partial download" or settings.backend == "openai":
        return False
    if not settings.path:
        return model.where == "bundled"
    if settings.gguf_file:
        if model.name == f"{settings.path} {settings.gguf_file}":  # a repo id and a file in it
            return True
        target = Path(settings.path).expanduser() / settings.gguf_file
    elif model.setting == settings.path:  # a repo id, or the very path
        return True
    else:
        target = Path(settings.path).expanduser()
    return target.exists() and target.resolve() == model.path.resolve()
