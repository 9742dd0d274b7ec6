"""github.com links: what a link the owner gives names, and where a file's document lives."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

__all__ = ["GitHubTarget", "document_url", "github_target"]

# First path segments of github.com that are GitHub's own pages, not accounts.
_RESERVED = frozenset(
    {"about", "account", "apps", "blog", "codespaces", "collections", "contact", "copilot"}
    | {"customer-stories", "dashboard", "enterprise", "events", "explore", "features"}
    | {"gist", "gists", "github", "home", "issues", "join", "login", "logout", "marketplace"}
    | {"new", "notifications", "organizations", "orgs", "pricing", "pulls", "readme"}
    | {"repositories", "search", "security", "sessions", "settings", "signup", "site"}
    | {"solutions", "sponsors", "stars", "team", "teams", "topics", "trending", "users"}
    | {"watching", "resources", "mobile", "nonprofit", "education", "premium-support"}
)
_ACCOUNT = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
_REPO = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")


@dataclass(frozen=True, slots=True)
class GitHubTarget:
    owner: str
    repo: str | None = None  # None: the account's repositories
    branch: str | None = None  # None: the default branch
    folder: str = ""  # only files under it (github.com/o/r/tree/<branch>/<folder>)


def github_target(url: str) -> GitHubTarget | None:
    """What a github.com link names: an account, a repository (at a branch, under a
    folder); None for anything else (GitHub's own pages, files, issues, gists)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return None
    if (parts.hostname or "").lower() not in ("github.com", "www.github.com"):
        return None
    segments = [s for s in parts.path.split("/") if s]
    if not segments or not _ACCOUNT.match(segments[0]) or segments[0].lower() in _RESERVED:
        return None
    owner = segments[0]
    if len(segments) == 1:
        return GitHubTarget(owner)
    repo = segments[1].removesuffix(".git")
    if not _REPO.match(repo) or repo in (".", ".."):
        return None
    if len(segments) == 2:
        return GitHubTarget(owner, repo)
    if segments[2] == "tree" and len(segments) >= 4:
        return GitHubTarget(owner, repo, unquote(segments[3]), unquote("/".join(segments[4:])))
    return None


def document_url(repo: str, branch: str, path: str) -> str:
    return f"https://github.com/{repo}/blob/{quote(branch, safe='/')}/{quote(path, safe='/')}"
