"""The download half of `llm-twin models pull`, run as `python -m model.hub_download` in a
child process that starts with the hub allowed (`core.offline.hub_online_environment`).

It reads {"repo", "file", "revision"} as one JSON line on stdin and answers one JSON line
on stdout: {"ok": {...}} or {"error": "one line for the owner"}. Progress bars (tqdm, from
huggingface_hub) go to stderr, which the child shares with the command.

Files land in the local HF cache (HF_HOME, HF_HUB_CACHE) in huggingface_hub's own layout,
so a pulled repo id resolves offline like any cached one. The bytes are fetched here rather
than by `hf_hub_download`: huggingface_hub 2.x downloads into a temporary file unique to
the call and deletes it when the call fails, so an interrupted multi-GB download would
start over. Here the partial file keeps one name (blobs/<etag>.incomplete) and the next
pull asks only for the rest (HTTP Range). The whole file is then checked against the hub's
checksum (sha256 for LFS files, the git blob id for the others) before it becomes the
blob; `hf_hub_download` then only links it into the snapshot. The plain HTTP path is used
even where the hub offers Xet: it resumes by Range and its bytes can be checked here.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SHA256 = re.compile(r"[0-9a-f]{64}")
GIT_SHA1 = re.compile(r"[0-9a-f]{40}")
# What a whole-folder pull leaves out: other frameworks' copies of the weights, the
# original checkpoints some repos ship beside the HF ones, and GGUFs (one is pulled with
# --file). PyTorch .bin weights are left out too where safetensors are there.
SKIPPED = re.compile(r"(^|/)original/|\.(gguf|pth|pt|h5|msgpack|ot|onnx|onnx_data|tflite)$")
CHUNK = 8 << 20


class PullError(Exception):
    """A failure already worded for the owner."""


@dataclass(frozen=True)
class Fetched:
    name: str
    path: str
    size: int
    downloaded: int  # bytes this pull fetched (0: the file was already in the cache)
    check: str  # "sha256", "git-sha1", "size" (the hub gave no checksum), "cached"


def pull(repo: str, file: str | None, revision: str | None) -> dict[str, Any]:
    """Fetch `file` of `repo` (or its model folder) at `revision` into the HF cache."""
    from huggingface_hub import HfApi, constants

    info = HfApi().model_info(repo, revision=revision)
    commit = info.sha or ""
    names = [sibling.rfilename for sibling in info.siblings or []]
    fetched = [_fetch(repo, name, commit) for name in _wanted(repo, names, file)]
    storage = _storage(repo)
    if revision != commit:
        _write_ref(storage, revision or "main", commit)
    return {
        "repo": repo,
        "revision": revision or "main",
        "commit": commit,
        "file": file,
        "folder": str(storage / "snapshots" / commit),
        "cache": str(constants.HF_HUB_CACHE),
        "files": [asdict(f) for f in fetched],
    }


def _wanted(repo: str, names: list[str], file: str | None) -> list[str]:
    ggufs = [name for name in names if name.endswith(".gguf")]
    if file:
        if file in names:
            return [file]
        hint = (
            f"its .gguf files: {', '.join(ggufs)}"
            if ggufs
            else "it has no .gguf files; leave out --file to pull the whole model folder"
        )
        raise PullError(f"{repo} has no file {file}; {hint}")
    if ggufs and "config.json" not in names:
        shown = ", ".join(ggufs[:20]) + (", …" if len(ggufs) > 20 else "")
        raise PullError(f"{repo} is a repo of GGUF files; pick one with --file: {shown}")
    keep = [name for name in names if not SKIPPED.search(name)]
    if any(name.endswith(".safetensors") for name in keep):
        keep = [name for name in keep if not name.endswith(".bin")]
    if not keep:
        raise PullError(f"{repo} holds no model files to pull")
    return keep


def _storage(repo: str) -> Path:
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    return Path(constants.HF_HUB_CACHE) / repo_folder_name(repo_id=repo, repo_type="model")


def _fetch(repo: str, name: str, commit: str) -> Fetched:
    from filelock import FileLock
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_download, hf_hub_url

    url = hf_hub_url(repo, name, revision=commit)
    meta = get_hf_file_metadata(url, retry_on_errors=True)
    if not meta.etag or meta.size is None:
        raise PullError(
            f"{repo} {name}: the hub sent no checksum or size; is HF_ENDPOINT "
            f"({constants.ENDPOINT}) a Hugging Face hub?"
        )
    storage = _storage(repo)
    blob = storage / "blobs" / meta.etag
    locks = Path(constants.HF_HUB_CACHE) / ".locks" / storage.name
    locks.mkdir(parents=True, exist_ok=True)
    downloaded, check = 0, "cached"
    with FileLock(str(locks / f"{meta.etag}.lock")):
        if not (blob.is_file() and blob.stat().st_size == meta.size):
            partial = blob.with_name(f"{meta.etag}.incomplete")
            source = meta.location or url
            downloaded = _transfer(repo, name, (url, source), partial, meta.size)
            check = _verify(repo, name, partial, meta.etag)
            os.replace(partial, blob)
    # The blob is in place: this only links snapshots/<commit>/<name> to it.
    path = hf_hub_download(repo, name, revision=commit)
    return Fetched(name, path, meta.size, downloaded, check)


def _transfer(repo: str, name: str, urls: tuple[str, str], partial: Path, size: int) -> int:
    """Append the rest of the file to `partial` (from its current length); the bytes got."""
    from huggingface_hub.errors import HfHubHTTPError
    from huggingface_hub.file_download import http_get

    # Public (huggingface_hub's docs list it here), but re-exported without `__all__`.
    from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]

    partial.parent.mkdir(parents=True, exist_ok=True)
    have = partial.stat().st_size if partial.exists() else 0
    if have > size:  # not a prefix of this file: start over
        partial.unlink()
        have = 0
    _ensure_space(repo, name, partial.parent, size - have)
    resolve, source = urls
    headers = build_hf_headers()
    if urlsplit(source).netloc != urlsplit(resolve).netloc:
        headers.pop("authorization", None)  # a signed CDN address: the token stays on the hub
    with partial.open("r+b" if have else "wb") as out:
        out.seek(have)
        try:
            http_get(
                source, out, resume_size=have, headers=headers,
                expected_size=size, displayed_filename=name,
            )  # fmt: skip
        except OSError as exc:  # a short or long body; not the hub's refusals nor a full disk
            if isinstance(exc, HfHubHTTPError) or exc.errno == errno.ENOSPC:
                raise
    got = partial.stat().st_size
    if got > size:
        partial.unlink()
        raise PullError(
            f"{repo} {name}: the server sent {got} bytes where the hub said {size}; the "
            "download was discarded: run the same command again"
        )
    if got < size:
        raise PullError(
            f"{repo} {name}: the download was cut short ({got} of {size} bytes, kept): run "
            "the same command again to resume"
        )
    return got - have


def _ensure_space(repo: str, name: str, folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise PullError(
            f"not enough disk space for {repo} {name}: it needs {_gb(needed)} more and "
            f"{folder} has {_gb(free)} free; free some, or set HF_HOME to a bigger disk"
        )


def _verify(repo: str, name: str, partial: Path, etag: str) -> str:
    """Check the whole file against the hub's checksum; a mismatch removes it."""
    if SHA256.fullmatch(etag):
        algorithm, digest = "sha256", hashlib.sha256()
    elif GIT_SHA1.fullmatch(etag):
        algorithm, digest = "git-sha1", hashlib.sha1(usedforsecurity=False)
        digest.update(b"blob %d\0" % partial.stat().st_size)
    else:
        return "size"  # an ETag that is no checksum: the size check is all there is
    if partial.stat().st_size > 1 << 30:
        print(f"checking the {algorithm} of {name}…", file=sys.stderr, flush=True)
    with partial.open("rb") as data:
        while chunk := data.read(CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != etag:
        partial.unlink()
        raise PullError(
            f"{repo} {name} failed its {algorithm} check (got {digest.hexdigest()[:12]}…, "
            f"the hub says {etag[:12]}…); the corrupt download was removed: run the same "
            "command again"
        )
    return algorithm


def _write_ref(storage: Path, revision: str, commit: str) -> None:
    """refs/<revision> names the commit, so `model.path = REPO` finds it offline."""
    ref = storage / "refs" / revision
    ref.parent.mkdir(parents=True, exist_ok=True)
    aside = ref.with_name(f".{ref.name}.{os.getpid()}")
    aside.write_text(commit, encoding="utf-8")
    os.replace(aside, ref)


def _gb(size: int) -> str:
    return f"{size / 1e9:.1f} GB"


def describe(exc: BaseException, repo: str, revision: str | None) -> str:
    """One line for the owner: what went wrong pulling `repo`, and what to do."""
    from huggingface_hub import constants
    from huggingface_hub import errors as hub

    endpoint = constants.ENDPOINT
    resume = "run the same command again to resume"
    if isinstance(exc, PullError):
        return str(exc)
    if isinstance(exc, hub.GatedRepoError):
        return (
            f"{repo} is gated: accept its terms at {endpoint}/{repo} and set HF_TOKEN to a "
            "read token of that account"
        )
    if isinstance(exc, hub.RepositoryNotFoundError):
        return (
            f"{repo}: no such model on {endpoint} (a private one needs HF_TOKEN); check the "
            "name as the hub page shows it, OWNER/NAME"
        )
    if isinstance(exc, hub.RevisionNotFoundError):
        return f"{repo} has no revision {revision}; give a branch, tag or commit it has"
    if isinstance(exc, hub.HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else "an error"
        if status in (401, 403):
            return f"{repo}: {endpoint} refused access ({status}): set HF_TOKEN to a read token"
        return f"{repo}: {endpoint} answered {status}; {resume}"
    if isinstance(exc, hub.HFValidationError):
        return f"{repo} is not a model id; give it as OWNER/NAME, as on its hub page"
    if _is_network_error(exc):
        return (
            f"cannot reach {endpoint} to pull {repo} ({type(exc).__name__}): check the "
            f"network (and HF_ENDPOINT if set); {resume}"
        )
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return (
            f"the disk filled up pulling {repo} into {constants.HF_HUB_CACHE}: free some "
            f"space or set HF_HOME to a bigger disk, then {resume}"
        )
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"pulling {repo} failed: {type(exc).__name__}: {first}"


def _is_network_error(exc: BaseException) -> bool:
    """A connection refused, reset or timed out. huggingface_hub's HTTP client (httpx, or
    its fork httpx2 in 2.x) raises subclasses of its TransportError, matched by name so
    this does not depend on which client the installed version uses."""
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    return any(
        cls.__name__ == "TransportError" and cls.__module__.startswith("httpx")
        for cls in type(exc).__mro__
    )


def _answer(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def main() -> None:
    request = json.loads(sys.stdin.readline())
    repo, revision = str(request["repo"]), request.get("revision")
    try:
        result = pull(repo, request.get("file"), revision)
    except KeyboardInterrupt:
        _answer({"error": f"{repo}: interrupted; what was downloaded is kept: run it again"})
        sys.exit(130)
    except Exception as exc:
        _answer({"error": describe(exc, repo, revision)})
        sys.exit(1)
    _answer({"ok": result})


if __name__ == "__main__":
    main()
