"""A small Hugging Face hub on loopback: the endpoints huggingface_hub's download path reads
(2.4: `HfApi.model_info`, `get_hf_file_metadata`, `http_get`), with the hub's headers.

- GET /api/models/{owner}/{name}[/revision/{rev}]: {"id", "sha", "siblings": [{"rfilename"}]}
  (with ?blobs=true also size, blobId and lfs {sha256, size}); 404 with X-Error-Code
  RepoNotFound or RevisionNotFound.
- HEAD /{owner}/{name}/resolve/{rev}/{path}: X-Repo-Commit, ETag (the git blob id), and
  for LFS files (.gguf, .safetensors, .bin) X-Linked-Etag (the sha256) and X-Linked-Size;
  404 EntryNotFound; a gated repo answers 401 GatedRepo without its token.
- GET the same: the bytes, honouring `Range: bytes=N-` (206 with Content-Range).

Faults, per file, for tests: `cut_after` drops the connection after that many bytes of the
next GET, `fail_gets` answers that many GETs (after the cut) 503, `corrupt` serves other
bytes of the same size, `short_by` ends the body that many bytes early. Every GET is
recorded in `gets`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from aiohttp import web

from tests.http_server import ThreadedServer

__all__ = ["Fault", "HubEmulator", "HubRepo", "ServedGet"]

LFS_SUFFIXES = (".gguf", ".safetensors", ".bin")
API = re.compile(r"/api/models/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?")
RESOLVE = re.compile(r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)")
RANGE = re.compile(r"bytes=(\d+)-(\d*)")


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class HubRepo:
    repo_id: str
    files: dict[str, bytes]
    gated: bool = False
    branches: dict[str, str] = field(default_factory=dict)  # name -> commit; main by default

    def __post_init__(self) -> None:
        self.commit = hashlib.sha1(self.repo_id.encode()).hexdigest()
        self.branches.setdefault("main", self.commit)

    def resolve(self, revision: str) -> str | None:
        if revision in self.branches:
            return self.branches[revision]
        return revision if revision in self.branches.values() else None

    def sibling(self, name: str, blobs: bool) -> dict[str, object]:
        data = self.files[name]
        if not blobs:
            return {"rfilename": name}
        entry: dict[str, object] = {
            "rfilename": name,
            "size": len(data),
            "blobId": git_blob_id(data),
        }
        if is_lfs(name):
            sha = hashlib.sha256(data).hexdigest()
            entry["lfs"] = {"sha256": sha, "size": len(data), "pointerSize": 134}
        return entry


def is_lfs(name: str) -> bool:
    return PurePosixPath(name).suffix in LFS_SUFFIXES


@dataclass
class Fault:
    cut_after: int | None = None  # one GET: drop the connection after this many bytes
    fail_gets: int = 0  # this many GETs answered 503
    corrupt: bool = False  # other bytes, same size
    short_by: int = 0  # the body ends this many bytes early (an honest Content-Length)


@dataclass(frozen=True)
class ServedGet:
    path: str
    range: str | None
    status: int
    sent: int
    authorized: bool


class HubEmulator(ThreadedServer):
    """Start with `start_in_thread()`; point HF_ENDPOINT at `url("")`."""

    def __init__(self, token: str = "hf_t0ken") -> None:
        super().__init__()
        self.token = token
        self.repos: dict[str, HubRepo] = {}
        self.faults: dict[str, Fault] = {}
        self.gets: list[ServedGet] = []
        self.requests: list[str] = []  # "METHOD path" of every request

    def add(self, repo: HubRepo) -> HubRepo:
        self.repos[repo.repo_id] = repo
        return repo

    @property
    def endpoint(self) -> str:
        return self.url("")

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path}")
        if request.method == "GET" and (match := API.fullmatch(request.path)):
            return self._model_info(request, match["repo"], match["rev"] or "main")
        if request.method in ("GET", "HEAD") and (match := RESOLVE.fullmatch(request.path)):
            return await self._resolve(request, match["repo"], match["rev"], match["path"])
        raise web.HTTPNotFound()

    def _model_info(self, request: web.Request, repo_id: str, revision: str) -> web.Response:
        repo = self.repos.get(repo_id)
        if repo is None:
            return _error(404, "RepoNotFound", "Repository not found")
        commit = repo.resolve(revision)
        if commit is None:
            return _error(404, "RevisionNotFound", "Invalid rev id: " + revision)
        blobs = request.query.get("blobs", "").lower() == "true"
        body = {
            "_id": repo.commit[:24],
            "id": repo_id,
            "modelId": repo_id,
            "sha": commit,
            "private": False,
            "gated": "auto" if repo.gated else False,
            "siblings": [repo.sibling(name, blobs) for name in sorted(repo.files)],
        }
        return web.json_response(body)

    async def _resolve(
        self, request: web.Request, repo_id: str, revision: str, path: str
    ) -> web.StreamResponse:
        repo = self.repos.get(repo_id)
        if repo is None:
            return _error(404, "RepoNotFound", "Repository not found")
        commit = repo.resolve(revision)
        if commit is None:
            return _error(404, "RevisionNotFound", "Invalid rev id: " + revision)
        authorized = request.headers.get("Authorization") == f"Bearer {self.token}"
        if repo.gated and not authorized:
            message = f"Access to model {repo_id} is restricted. You must have access to it."
            return _error(401, "GatedRepo", message)
        if path not in repo.files:
            return _error(404, "EntryNotFound", f"{path} does not exist", commit)
        data = repo.files[path]
        headers = {"X-Repo-Commit": commit, "ETag": f'"{git_blob_id(data)}"'}
        headers["Accept-Ranges"] = "bytes"
        if is_lfs(path):
            headers["X-Linked-Etag"] = f'"{hashlib.sha256(data).hexdigest()}"'
            headers["X-Linked-Size"] = str(len(data))
        if request.method == "HEAD":
            return web.Response(body=data, headers=headers)
        return await self._send(request, path, data, headers, authorized)

    async def _send(
        self,
        request: web.Request,
        path: str,
        data: bytes,
        headers: dict[str, str],
        authorized: bool,
    ) -> web.StreamResponse:
        fault = self.faults.get(path, Fault())
        asked = request.headers.get("Range")
        if fault.fail_gets and fault.cut_after is None:  # a cut comes first, then the 503s
            fault.fail_gets -= 1
            self.gets.append(ServedGet(path, asked, 503, 0, authorized))
            return web.Response(status=503, text="Service Unavailable")
        if fault.corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        start, status = 0, 200
        if asked and (match := RANGE.fullmatch(asked)):
            start, status = int(match[1]), 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start : len(data) - fault.short_by]
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = len(body)
        await response.prepare(request)
        cut, fault.cut_after = fault.cut_after, None
        sent = body if cut is None else body[:cut]
        await response.write(sent)
        self.gets.append(ServedGet(path, asked, status, len(sent), authorized))
        if cut is not None:
            assert request.transport is not None
            request.transport.close()  # mid-body: the client sees the connection drop
            return response
        await response.write_eof()
        return response


def _error(status: int, code: str, message: str, commit: str | None = None) -> web.Response:
    headers = {"X-Error-Code": code, "X-Error-Message": message}
    if commit:
        headers["X-Repo-Commit"] = commit
    return web.Response(status=status, text=json.dumps({"error": message}), headers=headers)
