"""GitHub: a user's or organization's public repositories, or one repository, read
through the REST API; each README, doc and source file becomes one document.

Incremental: the crawl state keeps each repository's `pushed_at` and head commit, and
every stored document its blob sha, so a recrawl reads only the listing for repositories
nobody pushed to, and only the changed blobs of those that moved. Documents live at
https://github.com/{owner}/{repo}/blob/{branch}/{path}: the branch, not the commit, so
an edited file keeps its identity (the commit is in `meta`). Code is kept verbatim and
marked `meta["verbatim"] = "1"`: prose cleaning would strip its indentation.

Private repositories are left out unless `include_private` (with a token that can read
them); archived ones are kept (they are still the owner's work, and cost nothing to
recrawl); forks in a listing are someone else's code, left out unless `include_forks`
and then never marked as the owner's.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
from collections import Counter
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import quote

from core.errors import ExtractionError, InputError
from ingest.document import Document
from ingest.extractors.base import Crawl, Seen
from ingest.extractors.github_api import (
    TOKEN_SETTING,
    GitHubAPI,
    NotFoundError,
    RepoInfo,
    head_commit,
    repo_listing,
    tree_entries,
)
from ingest.extractors.github_files import DEFAULT_EXTENSIONS, RepoFile, read_text, select_files
from ingest.extractors.github_urls import GitHubTarget, document_url, github_target

if TYPE_CHECKING:
    from ingest.extractors.registry import SourceSettings
    from ingest.fetcher import Fetcher

__all__ = ["GitHubExtractor"]

T = TypeVar("T")

# Left-out reasons the owner should hear about; the rest (vendored, generated, ...) are
# what the rules are for.
_NOTEWORTHY = ("too large", "over the file limit", "binary", "not UTF-8")


@dataclass
class _RepoCrawl:
    documents: list[Document] = field(default_factory=list)
    present: set[str] = field(default_factory=set)
    skipped: int = 0
    notes: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Commit:
    """The commit of a repository's branch that a crawl reads."""

    repo: RepoInfo
    branch: str
    commit: str
    committed_at: datetime | None


class GitHubExtractor:
    name: ClassVar[str] = "github"
    description: ClassVar[str] = (
        "GitHub accounts (github.com/you: your public repositories) and repositories"
        " (github.com/you/repo, /tree/branch): READMEs, docs and source files"
    )

    @classmethod
    def from_settings(cls, settings: SourceSettings) -> GitHubExtractor:
        """[github], with the token from TWIN_GITHUB__TOKEN."""
        gh = settings.github
        return cls(
            api_url=gh.api_url,
            token=settings.secret("github", "token"),
            extensions=frozenset(e.lower() for e in gh.extensions) or DEFAULT_EXTENSIONS,
            max_file_bytes=gh.max_file_bytes,
            max_files_per_repo=gh.max_files_per_repo,
            include_forks=gh.include_forks,
            include_archived=gh.include_archived,
            include_private=gh.include_private,
            concurrency=gh.concurrency,
        )

    def __init__(
        self,
        *,
        api_url: str = "https://api.github.com",
        token: str | None = None,
        extensions: frozenset[str] = DEFAULT_EXTENSIONS,
        max_file_bytes: int = 200_000,
        max_files_per_repo: int = 500,
        include_forks: bool = False,
        include_archived: bool = True,
        include_private: bool = False,
        concurrency: int = 4,
    ) -> None:
        self.api_url = api_url
        self._token = token or None
        self.extensions = frozenset(
            e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions
        )
        self.max_file_bytes = max_file_bytes
        self.max_files_per_repo = max_files_per_repo
        self.include_forks = include_forks
        self.include_archived = include_archived
        self.include_private = include_private
        self.concurrency = concurrency
        # Changing what is selected makes an unchanged repository worth walking again.
        settings = [sorted(self.extensions), max_file_bytes, max_files_per_repo, 1]
        self._rules = hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:16]

    def matches(self, url: str) -> bool:
        return github_target(url) is not None

    async def extract(self, url: str, fetcher: Fetcher) -> list[Document]:
        return (await self.crawl(url, fetcher, Seen())).documents

    async def crawl(self, url: str, fetcher: Fetcher, seen: Seen) -> Crawl:
        target = github_target(url)
        if target is None:
            raise ExtractionError(url, "not a GitHub account or repository link")
        api = GitHubAPI(
            fetcher,
            source=url,
            api_url=self.api_url,
            token=self._token,
            concurrency=self.concurrency,
        )
        stored = seen.state.get("listing")
        if target.repo is None:
            repos, listing = await self._account_repos(api, target.owner, stored)
            repos = [r for r in repos if self._wanted(r)]
            owner = repos[0].owner if repos else target.owner
        else:
            repos, listing = await self._repo(api, target, stored)
            owner = repos[0].owner
        before = _mapping(seen.state.get("repos"))
        parts = await _all(
            self._crawl_repo(api, repo, target, _mapping(before.get(repo.full_name)), seen)
            for repo in repos
        )
        crawl = Crawl(owner=owner, present=frozenset().union(*(p.present for p in parts)))
        crawl.state["repos"] = {
            repo.full_name: p.state for repo, p in zip(repos, parts, strict=True)
        }
        if listing is not None:
            crawl.state["listing"] = listing
        for part in parts:
            crawl.documents += part.documents
            crawl.skipped += part.skipped
            crawl.notes += part.notes
        return crawl

    def _wanted(self, repo: RepoInfo) -> bool:
        return (
            (self.include_forks or not repo.fork)
            and (self.include_archived or not repo.archived)
            and (self.include_private or not repo.private)
        )

    async def _account_repos(
        self, api: GitHubAPI, login: str, stored: Mapping[str, Any] | None
    ) -> tuple[list[RepoInfo], dict[str, Any] | None]:
        """Every repository the account owns (/users/ serves organizations too)."""
        not_found = f"no such GitHub user or organization '{login}'"
        last = _stored_listing(stored)
        answer = await api.get(
            f"/users/{login}/repos?per_page=100&type=owner",
            not_found=not_found,
            etag=last[0] if last else None,
        )
        if answer.not_modified and last and stored:
            return last[1], dict(stored)
        raw, pages, first = list(repo_listing(answer.data, api.source)), 1, answer
        while answer.next_url is not None:
            if pages >= 100:
                raise ExtractionError(api.source, "more than 100 pages of repositories")
            answer = await api.get(answer.next_url, not_found=not_found)
            raw += repo_listing(answer.data, api.source)
            pages += 1
        repos = [RepoInfo.from_api(r, api.source) for r in raw]
        # Only a one-page listing is asked "changed?" next time: a 304 then covers it all.
        tag = first.headers.get("ETag") if pages == 1 else None
        return repos, {"etag": tag, "repos": [r.to_state() for r in repos]} if tag else None

    async def _repo(
        self, api: GitHubAPI, target: GitHubTarget, stored: Mapping[str, Any] | None
    ) -> tuple[list[RepoInfo], dict[str, Any] | None]:
        last = _stored_listing(stored)
        last = last if last and len(last[1]) == 1 else None
        answer = await api.get(
            f"/repos/{target.owner}/{target.repo}",
            not_found=(
                f"no such repository, or {TOKEN_SETTING} cannot read it (GitHub returns 404"
                " for private repos without access)"
                if self._token
                else "no such public repository (or it is private: GitHub returns 404 for"
                f" private repos without access; set {TOKEN_SETTING} with access)"
            ),
            etag=last[0] if last else None,
        )
        listing: dict[str, Any] | None
        if answer.not_modified and last and stored:
            repo, listing = last[1][0], dict(stored)
        else:
            repo = RepoInfo.from_api(answer.data, api.source)
            tag = answer.headers.get("ETag")
            listing = {"etag": tag, "repos": [repo.to_state()]} if tag else None
        if repo.private and not self.include_private:
            raise InputError(
                api.source,
                "a private repository: private code is left out unless github.include_private"
                " is set",
            )
        return [repo], listing

    async def _crawl_repo(
        self,
        api: GitHubAPI,
        repo: RepoInfo,
        target: GitHubTarget,
        before: Mapping[str, Any],
        seen: Seen,
    ) -> _RepoCrawl:
        key, branch = repo.full_name, target.branch or repo.default_branch
        known = {url: meta for url, meta in seen.documents.items() if meta.get("repo") == key}
        state: dict[str, Any] = {"pushed_at": repo.pushed_at, "branch": branch}
        state["rules"] = self._rules
        same = before.get("branch") == branch and before.get("rules") == self._rules
        if same and before.get("pushed_at") == repo.pushed_at:
            return _unchanged(known, {**before, **state})  # nothing was pushed since
        try:
            head = await api.get(
                f"/repos/{key}/branches/{quote(branch, safe='/')}",
                not_found=f"no branch '{branch}' in {key}",
            )
        except NotFoundError:
            if target.branch is not None:
                raise
            return _RepoCrawl(state={**state, "commit": ""})  # an empty repository
        commit, tree_sha, committed_at = head_commit(head.data, api.source)
        state["commit"] = commit
        if same and before.get("commit") == commit:  # pushed to another branch
            return _unchanged(known, {**before, **state})
        tree = await api.get(
            f"/repos/{key}/git/trees/{tree_sha}?recursive=1",
            not_found=f"{key}: the tree of {commit} is gone (force-pushed?); try again",
        )
        at = _Commit(repo, branch, commit, committed_at)
        dropped = set(before.get("dropped") or ())  # what the bytes showed: no setting changes it
        return await self._read_tree(api, at, tree.data, target.folder, known, dropped, state)

    async def _read_tree(
        self,
        api: GitHubAPI,
        at: _Commit,
        tree: Any,
        folder: str,
        known: Mapping[str, Mapping[str, str]],
        dropped: set[str],
        state: dict[str, Any],
    ) -> _RepoCrawl:
        """The wanted files of `tree` (a recursive listing): those whose blob the last
        crawl stored are present but skipped; the rest are read into documents, and one
        that is not text is remembered in `dropped` so that it is not read again."""
        key = at.repo.full_name
        files, left_out = select_files(
            tree_entries(tree, api.source),
            extensions=self.extensions,
            max_file_bytes=self.max_file_bytes,
            max_files=self.max_files_per_repo,
            folder=folder,
        )
        result = _RepoCrawl(state=state)
        to_read = []
        for file in files:
            url = document_url(key, at.branch, file.path)
            if url in known and known[url].get("blob_sha") == file.sha:
                result.present.add(url)
                result.skipped += 1
            elif file.sha not in dropped:
                to_read.append(file)
        api.ensure(len(to_read))
        texts = await _all(self._read(api, key, file) for file in to_read)
        for file, (text, reason) in zip(to_read, texts, strict=True):
            if text is None:
                left_out[reason] += 1
                dropped.add(file.sha)
                continue
            document = _document(at, file, text, api.source)
            result.documents.append(document)
            result.present.add(document.url)
        state["dropped"] = sorted(dropped & {f.sha for f in files})
        result.notes += self._notes(key, left_out)
        if bool(tree.get("truncated")):
            result.present |= known.keys()  # an incomplete listing cannot say what is gone
            result.notes.append(
                f"{key}: GitHub truncated the file listing (too many files); only part of"
                " the repository was read and nothing of it was removed"
            )
        return result

    async def _read(self, api: GitHubAPI, key: str, file: RepoFile) -> tuple[str | None, str]:
        answer = await api.get(
            f"/repos/{key}/git/blobs/{file.sha}",
            not_found=f"{key}: {file.path} changed during the crawl; try again",
        )
        try:
            content, encoding = answer.data["content"], answer.data.get("encoding")
            data = base64.b64decode(content) if encoding == "base64" else str(content).encode()
        except (KeyError, TypeError, AttributeError, binascii.Error):
            raise ExtractionError(
                api.source, f"GitHub sent an unreadable blob for {key}: {file.path}"
            ) from None
        return read_text(file.path, data)

    def _notes(self, key: str, left_out: Counter[str]) -> list[str]:
        counts = [(why, left_out[why]) for why in _NOTEWORTHY if left_out[why]]
        if not counts:
            return []
        limits = {
            "too large": f" (over {self.max_file_bytes:,} bytes, github.max_file_bytes)",
            "over the file limit": f" (github.max_files_per_repo = {self.max_files_per_repo})",
        }
        said = ", ".join(f"{n} {why}{limits.get(why, '')}" for why, n in counts)
        return [f"{key}: left out {said}"]


def _document(at: _Commit, file: RepoFile, text: str, source: str) -> Document:
    repo, key = at.repo, at.repo.full_name
    return Document(
        url=document_url(key, at.branch, file.path),
        platform="github",
        title=f"{key}: {file.path}",
        text=text,
        author=repo.owner,
        published_at=at.committed_at,
        source_url=source,
        owned=False if repo.fork else (True if repo.owner_type == "User" else None),
        meta=_meta(key, file, at.branch, at.commit),
    )


def _meta(key: str, file: RepoFile, branch: str, commit: str) -> dict[str, str]:
    meta = {"repo": key, "path": file.path, "branch": branch, "commit": commit}
    meta |= {"blob_sha": file.sha, "kind": file.kind}
    if file.kind == "code":
        meta["verbatim"] = "1"  # whitespace is its syntax: not for prose cleaning
    return meta


def _unchanged(known: Mapping[str, Mapping[str, str]], state: dict[str, Any]) -> _RepoCrawl:
    return _RepoCrawl(present=set(known), skipped=len(known), state=state)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _stored_listing(stored: Any) -> tuple[str, list[RepoInfo]] | None:
    """The listing the last crawl kept, if any: the ETag to ask with, and its repos."""
    try:
        return str(stored["etag"]), [RepoInfo.from_state(r) for r in stored["repos"]]
    except (KeyError, TypeError):  # none kept, or an older layout: ask unconditionally
        return None


async def _all(coros: Iterable[Awaitable[T]]) -> list[T]:
    """Run together; the first failure cancels the rest and is raised as it is."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
