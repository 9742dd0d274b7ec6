"""A small GitHub REST API on loopback: the endpoints the GitHub extractor reads, answering
with the real API's JSON shapes and headers.

- GET /users/{login}/repos: public repos the account owns, sorted by name, `per_page`
  capped at `max_per_page` (100 on GitHub), `Link` rel="next"/"last"/"prev"/"first".
- GET /repos/{owner}/{repo}: 404 for a private repo unless the request has a token.
- GET /repos/{owner}/{repo}/branches/{branch}: the head commit (404 "Branch not found",
  also for an empty repository).
- GET /repos/{owner}/{repo}/git/trees/{sha}?recursive=1, /git/blobs/{sha} (base64).

Blob shas are git's own (sha1 of "blob <size>\\0<bytes>"). Every 200 carries an ETag, a
matching If-None-Match gets a 304 that costs no quota, and every answer carries
x-ratelimit-*; with no quota left the answer is GitHub's 403. Tests change repositories
with `push`, and count requests with `hits` and `blob_reads`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.http_server import serve_on_loopback

__all__ = ["GitHubEmulator", "Repo", "blob_sha"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

DOCS = "https://docs.github.com/rest"
START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Commit:
    sha: str
    tree_sha: str
    date: datetime
    files: dict[str, bytes]


@dataclass
class Repo:
    owner: str
    name: str
    files: dict[str, bytes] = field(default_factory=dict)  # the default branch's
    fork: bool = False
    archived: bool = False
    private: bool = False
    default_branch: str = "main"
    truncated: bool = False  # the tree listing says it was cut short
    branches: dict[str, Commit] = field(default_factory=dict)
    pushed_at: datetime = START
    id: int = 0


class GitHubEmulator:
    def __init__(self, *, tokens: frozenset[str] = frozenset({"t0ken"})) -> None:
        self.app = web.Application(middlewares=[self._middleware])
        r = self.app.router
        r.add_get("/users/{login}/repos", self._list_repos)
        r.add_get("/repos/{owner}/{repo}", self._repo)
        r.add_get("/repos/{owner}/{repo}/branches/{branch:.+}", self._branch)
        r.add_get("/repos/{owner}/{repo}/git/trees/{sha}", self._tree)
        r.add_get("/repos/{owner}/{repo}/git/blobs/{sha}", self._blob)
        self.accounts: dict[str, str] = {}  # login -> "User" | "Organization"
        self.repos: dict[str, Repo] = {}  # "owner/name" -> repo
        self.tokens = tokens
        self.max_per_page = 100
        self.link_origin: str | None = None  # where `Link` points; None: this server
        self.limit_anonymous, self.limit_token = 60, 5000
        self.remaining: dict[str, int] = {}  # "" (anonymous) or a token -> requests left
        self.reset = int(time.time()) + 3600
        self.requests: list[web.Request] = []  # every request received, in order
        self.rejected = 0  # answered 403 for want of quota
        self.secondary_limit_hits = 0  # answer this many next requests 403 with Retry-After
        self._blobs: dict[str, bytes] = {}
        self._clock = START
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- test-side setup ---------------------------------------------------------------

    def account(self, login: str, kind: str = "User") -> None:
        self.accounts[login] = kind

    def add_repo(self, repo: Repo) -> Repo:
        self.accounts.setdefault(repo.owner, "User")
        repo.id = len(self.repos) + 1000
        self.repos[f"{repo.owner}/{repo.name}"] = repo
        if repo.files:
            self.push(repo, repo.files, branch=repo.default_branch)
        return repo

    def push(
        self,
        repo: Repo,
        changes: dict[str, bytes],
        *,
        delete: tuple[str, ...] = (),
        branch: str | None = None,
    ) -> str:
        """Commit `changes` and deletions on a branch; returns the new head sha."""
        branch = branch or repo.default_branch
        # A new branch starts from the default branch's head, as `git switch -c` would.
        head = repo.branches.get(branch) or repo.branches.get(repo.default_branch)
        files = {**(head.files if head else {}), **changes}
        for path in delete:
            del files[path]
        for data in files.values():
            self._blobs[blob_sha(data)] = data
        self._clock += timedelta(minutes=5)
        listing = "".join(f"{p}\0{blob_sha(d)}\n" for p, d in sorted(files.items()))
        tree_sha = hashlib.sha1(listing.encode()).hexdigest()
        sha = hashlib.sha1(f"{tree_sha} {head.sha if head else ''}".encode()).hexdigest()
        repo.branches[branch] = Commit(sha, tree_sha, self._clock, files)
        if branch == repo.default_branch:
            repo.files = files
        repo.pushed_at = self._clock
        return sha

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self, path: str) -> int:
        return sum(1 for request in self.requests if request.path == path)

    def blob_reads(self) -> list[str]:
        """The shas of every blob read, in order."""
        return [r.path.rsplit("/", 1)[1] for r in self.requests if "/git/blobs/" in r.path]

    async def start(self) -> None:
        self._runner, self.port = await serve_on_loopback(self.app)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- the API -----------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append(request)
        token = self._token(request)
        if token is None:
            return self._json({"message": "Bad credentials", "documentation_url": DOCS}, 401)
        limit = self.limit_token if token else self.limit_anonymous
        left = self.remaining.setdefault(token, limit)
        rate = {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-reset": str(self.reset),
            "x-ratelimit-resource": "core",
            "x-github-api-version-selected": "2022-11-28",
            "x-github-request-id": f"EMU:{len(self.requests)}",
        }
        if left <= 0:
            self.rejected += 1
            body = {"message": "API rate limit exceeded for 127.0.0.1.", "documentation_url": DOCS}
            return self._json(body, 403, {**rate, "x-ratelimit-remaining": "0"})
        if self.secondary_limit_hits:
            self.secondary_limit_hits -= 1
            body = {
                "message": "You have exceeded a secondary rate limit.",
                "documentation_url": DOCS,
            }
            return self._json(
                body, 403, {**rate, "x-ratelimit-remaining": str(left), "retry-after": "0"}
            )
        try:
            response = await handler(request)
        except web.HTTPNotFound:  # no such endpoint
            response = self._not_found()
        if response.status != 304:  # conditional requests answered 304 are free
            left = self.remaining[token] = left - 1
        response.headers.update({**rate, "x-ratelimit-remaining": str(left)})
        response.headers["x-ratelimit-used"] = str(limit - left)
        return response

    def _token(self, request: web.Request) -> str | None:
        """ "" for anonymous requests, the token for valid ones, None for a bad token."""
        header = request.headers.get("Authorization", "")
        if not header:
            return ""
        scheme, _, token = header.partition(" ")
        return token if scheme.lower() in ("bearer", "token") and token in self.tokens else None

    def _json(
        self, data: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> web.Response:
        return web.Response(
            text=json.dumps(data, indent=2),
            status=status,
            content_type="application/json",
            charset="utf-8",
            headers=headers,
        )

    def _ok(
        self, request: web.Request, data: Any, headers: dict[str, str] | None = None
    ) -> web.Response:
        body = json.dumps(data, indent=2)
        etag = f'W/"{hashlib.sha256(body.encode()).hexdigest()[:32]}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag, **(headers or {})})
        response = self._json(data, 200, {"ETag": etag, **(headers or {})})
        response.headers["Cache-Control"] = "private, max-age=60, s-maxage=60"
        response.headers["Vary"] = "Accept, Authorization, Cookie, X-GitHub-OTP"
        return response

    def _not_found(self, message: str = "Not Found") -> web.Response:
        body = {"message": message, "documentation_url": DOCS, "status": "404"}
        return self._json(body, 404)

    def _visible(self, request: web.Request) -> Repo | None:
        key = f"{request.match_info['owner']}/{request.match_info['repo']}"
        repo = self.repos.get(key)
        if repo is None or (repo.private and not self._token(request)):
            return None
        return repo

    async def _list_repos(self, request: web.Request) -> web.Response:
        login = request.match_info["login"]
        if login not in self.accounts:
            return self._not_found()
        owned = [self._repo_json(r) for r in self.repos.values() if r.owner == login]
        public = sorted((r for r in owned if not r["private"]), key=lambda r: r["full_name"])
        per_page = min(int(request.query.get("per_page", "30")), self.max_per_page)
        page = int(request.query.get("page", "1"))
        last = max(1, -(-len(public) // per_page))
        links = []

        def link(number: int, rel: str) -> str:
            query = urlencode({**request.query, "page": str(number)})
            return f'<{self.link_origin or self.url()}{request.path}?{query}>; rel="{rel}"'

        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        headers = {"Link": ", ".join(links)} if links else None
        return self._ok(request, public[(page - 1) * per_page : page * per_page], headers)

    async def _repo(self, request: web.Request) -> web.Response:
        repo = self._visible(request)
        return self._not_found() if repo is None else self._ok(request, self._repo_json(repo))

    async def _branch(self, request: web.Request) -> web.Response:
        repo = self._visible(request)
        if repo is None:
            return self._not_found()
        name = request.match_info["branch"]
        head = repo.branches.get(name)
        if head is None:
            return self._not_found("Branch not found")
        api = self.url(f"/repos/{repo.owner}/{repo.name}")
        person = {"name": repo.owner, "email": f"{repo.owner}@users.noreply.github.com"}
        signature = {**person, "date": _iso(head.date)}
        commit = {
            "sha": head.sha,
            "node_id": f"C_{head.sha[:12]}",
            "commit": {
                "author": signature,
                "committer": signature,
                "message": "Update",
                "tree": {"sha": head.tree_sha, "url": f"{api}/git/trees/{head.tree_sha}"},
                "url": f"{api}/git/commits/{head.sha}",
                "comment_count": 0,
            },
            "url": f"{api}/commits/{head.sha}",
            "html_url": f"https://github.com/{repo.owner}/{repo.name}/commit/{head.sha}",
            "parents": [],
        }
        return self._ok(
            request,
            {
                "name": name,
                "commit": commit,
                "_links": {
                    "self": f"{api}/branches/{name}",
                    "html": f"https://github.com/{repo.owner}/{repo.name}/tree/{name}",
                },
                "protected": False,
            },
        )

    async def _tree(self, request: web.Request) -> web.Response:
        repo = self._visible(request)
        sha = request.match_info["sha"]
        head = next(
            (c for c in (repo.branches.values() if repo else ()) if c.tree_sha == sha), None
        )
        if repo is None or head is None:
            return self._not_found()
        api = self.url(f"/repos/{repo.owner}/{repo.name}/git")
        entries: dict[str, dict[str, Any]] = {}
        recursive = request.query.get("recursive") not in (None, "", "0", "false")
        for path, data in sorted(head.files.items()):
            parts = path.split("/")
            if not recursive and len(parts) > 1:
                continue
            for depth in range(1, len(parts)):
                folder = "/".join(parts[:depth])
                tree_sha = hashlib.sha1(folder.encode()).hexdigest()
                entries.setdefault(
                    folder,
                    {
                        "path": folder,
                        "mode": "040000",
                        "type": "tree",
                        "sha": tree_sha,
                        "url": f"{api}/trees/{tree_sha}",
                    },
                )
            sha_ = blob_sha(data)
            entries[path] = {
                "path": path,
                "mode": "100644",
                "type": "blob",
                "sha": sha_,
                "size": len(data),
                "url": f"{api}/blobs/{sha_}",
            }
        tree = [entries[k] for k in sorted(entries)]
        return self._ok(
            request,
            {"sha": sha, "url": f"{api}/trees/{sha}", "tree": tree, "truncated": repo.truncated},
        )

    async def _blob(self, request: web.Request) -> web.Response:
        repo = self._visible(request)
        sha = request.match_info["sha"]
        data = self._blobs.get(sha)
        if repo is None or data is None:
            return self._not_found()
        encoded = base64.encodebytes(data).decode("ascii")  # 76-column lines, as GitHub's
        url = self.url(f"/repos/{repo.owner}/{repo.name}/git/blobs/{sha}")
        return self._ok(
            request,
            {
                "sha": sha,
                "node_id": f"B_{sha[:12]}",
                "size": len(data),
                "url": url,
                "content": encoded,
                "encoding": "base64",
            },
        )

    def _repo_json(self, repo: Repo) -> dict[str, Any]:
        full = f"{repo.owner}/{repo.name}"
        api = self.url(f"/repos/{full}")
        owner_type = self.accounts.get(repo.owner, "User")
        return {
            "id": repo.id,
            "node_id": f"R_{repo.id}",
            "name": repo.name,
            "full_name": full,
            "private": repo.private,
            "owner": {
                "login": repo.owner,
                "id": abs(hash(repo.owner)) % 10**6,
                "type": owner_type,
                "site_admin": False,
                "url": self.url(f"/users/{repo.owner}"),
                "html_url": f"https://github.com/{repo.owner}",
            },
            "html_url": f"https://github.com/{full}",
            "description": None,
            "fork": repo.fork,
            "url": api,
            "created_at": _iso(START),
            "updated_at": _iso(repo.pushed_at),
            "pushed_at": _iso(repo.pushed_at),
            "size": sum(len(d) for d in repo.files.values()) // 1024,
            "stargazers_count": 0,
            "language": None,
            "archived": repo.archived,
            "disabled": False,
            "visibility": "private" if repo.private else "public",
            "default_branch": repo.default_branch,
            "topics": [],
        }
