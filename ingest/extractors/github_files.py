"""Which files of a repository become documents.

Wanted: every README, and files whose extension is configured (docs and source code).
Then the rules below leave out what the owner did not write. Path rules run on the tree
listing, before anything is downloaded; content rules run on the downloaded bytes, and
what they drop is remembered by blob sha so it is not downloaded again.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

__all__ = ["CONTENT_RULES", "DEFAULT_EXTENSIONS", "DOC_EXTENSIONS", "PATH_RULES"]
__all__ += ["RepoFile", "read_text", "select_files"]

DOC_EXTENSIONS = frozenset({".md", ".markdown", ".rst", ".txt", ".adoc"})
CODE_EXTENSIONS = frozenset(
    {".py", ".js", ".jsx", ".mjs", ".ts", ".tsx", ".go", ".rs", ".java", ".kt", ".kts"}
    | {".rb", ".php", ".c", ".h", ".cc", ".cpp", ".hpp", ".cs", ".swift", ".scala", ".dart"}
    | {".lua", ".r", ".jl", ".ex", ".exs", ".erl", ".hs", ".ml", ".clj", ".vue", ".svelte"}
    | {".sh", ".bash", ".zsh", ".sql", ".toml", ".yaml", ".yml"}
)
# Notebooks (.ipynb) are JSON with outputs and base64 images inside: not read.
DEFAULT_EXTENSIONS = DOC_EXTENSIONS | CODE_EXTENSIONS


def _dirs(*names: str) -> re.Pattern[str]:
    return re.compile(rf"(?:^|/)(?:{'|'.join(map(re.escape, names))})/")


def _names(*patterns: str) -> re.Pattern[str]:
    return re.compile(rf"(?:^|/)(?:{'|'.join(patterns)})$", re.IGNORECASE)


# (why it is left out, which paths): the first rule that matches names the reason.
PATH_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("hidden", re.compile(r"(?:^|/)\.")),  # .github/, .vscode/, dotfiles: tool config
    ("vendored", _dirs("vendor", "third_party", "third-party", "thirdparty", "node_modules")),
    ("vendored", _dirs("bower_components", "jspm_packages", "site-packages", "venv", "Pods")),
    ("build output", _dirs("dist", "build", "target", "_build", "__pycache__", "coverage")),
    ("test data", _dirs("testdata", "test_data", "fixtures", "__snapshots__")),
    ("minified", _names(r"[^/]+[.-]min\.(?:js|mjs|css)", r"[^/]+\.bundle\.js")),
    ("generated", _names(r"[^/]+_pb2(?:_grpc)?\.pyi?", r"[^/]+\.pb(?:\.gw)?\.(?:go|cc|h)")),
    ("generated", _names(r"[^/]+\.(?:g|freezed)\.dart", r"[^/]+\.designer\.cs")),
    ("generated", _names(r"[^/]*_generated\.\w+", r"zz_generated\.[^/]+")),
    ("lockfile", _names(r"[^/]+\.lock", r"package-lock\.json", r"npm-shrinkwrap\.json")),
    ("lockfile", _names(r"pnpm-lock\.yaml", r"go\.sum", r"requirements[^/]*\.txt")),
    ("licence or template", _names(r"(?:licen[cs]e|copying|notice|code_of_conduct)[^/]*")),
)

_GENERATED = re.compile(
    r"@generated|\bdo not (?:edit|modify)\b"
    r"|\b(?:auto-?generated|automatically generated|code generated|generated (?:by|from|with))\b",
    re.IGNORECASE,
)


def _minified(path: str, text: str) -> bool:
    lines = text.count("\n") + 1
    return kind_of(path) == "code" and len(text) > 1000 and len(text) / lines > 300


# (why it is left out, test on the decoded text), after the bytes were found to be text.
CONTENT_RULES: tuple[tuple[str, Callable[[str, str], bool]], ...] = (
    ("empty", lambda path, text: not text.strip()),
    ("generated", lambda path, text: bool(_GENERATED.search("\n".join(text.splitlines()[:5])))),
    ("minified", _minified),
)


@dataclass(frozen=True, slots=True)
class RepoFile:
    path: str
    sha: str  # the blob's
    size: int

    @property
    def kind(self) -> str:
        return kind_of(self.path)


def kind_of(path: str) -> str:
    """ "docs" for READMEs and prose formats, "code" for the rest."""
    name = PurePosixPath(path).name.lower()
    return "docs" if _is_readme(name) or _suffix(name) in DOC_EXTENSIONS else "code"


def select_files(
    tree: Iterable[Any],
    *,
    extensions: frozenset[str],
    max_file_bytes: int,
    max_files: int,
    folder: str = "",
) -> tuple[list[RepoFile], Counter[str]]:
    """The wanted files of a recursive tree listing, READMEs and docs first, and how many
    were left out by each reason."""
    kept: list[RepoFile] = []
    left_out: Counter[str] = Counter()
    prefix = folder.strip("/") + "/" if folder.strip("/") else ""
    for entry in tree:
        path, kind = str(entry.get("path", "")), entry.get("type")
        # Symlinks (mode 120000) are blobs holding a path; submodules are "commit" entries.
        if kind != "blob" or entry.get("mode") == "120000" or not path.startswith(prefix):
            continue
        name = PurePosixPath(path).name.lower()
        if not (_is_readme(name) or _suffix(name) in extensions):
            continue
        reason = next((why for why, pattern in PATH_RULES if pattern.search(path)), None)
        size = int(entry.get("size") or 0)
        if reason is None and size > max_file_bytes:
            reason = "too large"
        if reason is None and size == 0:
            reason = "empty"
        if reason is not None:
            left_out[reason] += 1
            continue
        kept.append(RepoFile(path, str(entry["sha"]), size))
    kept.sort(
        key=lambda f: (not _is_readme(PurePosixPath(f.path).name.lower()), f.kind != "docs", f.path)
    )
    if len(kept) > max_files:
        left_out["over the file limit"] += len(kept) - max_files
        kept = kept[:max_files]
    return kept, left_out


def read_text(path: str, data: bytes) -> tuple[str | None, str]:
    """(the file's text, "") or (None, why it is left out)."""
    if b"\0" in data[:8000]:  # git's own test for binary content
        return None, "binary"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, "not UTF-8"
    for reason, test in CONTENT_RULES:
        if test(path, text):
            return None, reason
    return text, ""


def _is_readme(name: str) -> bool:
    stem, suffix = name.partition(".")[0], _suffix(name)
    return stem == "readme" and (suffix == "" or suffix in DOC_EXTENSIONS)


def _suffix(name: str) -> str:
    return PurePosixPath(name).suffix.lower()
