"""The shape of the code, as ARCHITECTURE.md states it: every path it names exists, the
layers import one way with no circles, modules and functions stay small, no module reaches
into another's private names, and the HF offline switch is set in one place."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("core", "retrieval", "ingest", "model", "training", "bot")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def modules() -> dict[str, Path]:
    found = {}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = modules()


def owner(name: str) -> str | None:
    """The module of ours that `name` (a module or a module.attribute) lives in."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imported_names(name: str, path: Path) -> Iterator[tuple[str, str]]:
    """(what is imported, as written in full) for every import in the file, deferred and
    TYPE_CHECKING ones included: a circle hidden in a function is still a circle."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".")
                keep = len(package) - node.level + (1 if path.name == "__init__.py" else 0)
                base = ".".join([*package[:keep], *([node.module] if node.module else [])])
            yield base, base
            for alias in node.names:
                yield f"{base}.{alias.name}", f"{base}.{alias.name}"


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for target, _ in imported_names(name, path):
            module = owner(target)
            if module is not None and module != name:
                edges[name].add(module)
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def package_of(module: str) -> str:
    """A module's package (bot.chat.slack.adapter -> bot.chat.slack)."""
    path = MODULES[module]
    return module if path.name == "__init__.py" else module.rpartition(".")[0] or module


def test_every_path_in_architecture_md_exists() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    named = {p for p in re.findall(r"`([\w./-]+)`", text) if "/" in p or p.endswith(".py")}
    assert len(named) > 20  # the page names its places
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert missing == [], f"ARCHITECTURE.md names paths that do not exist: {missing}"


def test_no_import_circles_between_modules_or_packages() -> None:
    edges = graph()
    assert circles(edges) == []
    packages: dict[str, set[str]] = {}
    for module, targets in edges.items():
        mine = package_of(module)
        theirs = {package_of(t) for t in targets} - {mine}
        # a package importing its own subpackage is containment, not a circle
        packages.setdefault(mine, set()).update(t for t in theirs if not t.startswith(mine + "."))
    for package in list(packages):
        packages.setdefault(package, set())
    for targets in list(packages.values()):
        for target in targets:
            packages.setdefault(target, set())
    assert circles(packages) == []


def test_layers_import_one_way() -> None:
    rank = {layer: n for n, layer in enumerate(LAYERS)}
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in graph().items()
        for target in targets
        if rank[target.split(".")[0]] > rank[module.split(".")[0]]
    )
    assert upward == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_and_functions_stay_small(name: str) -> None:
    source = MODULES[name].read_text(encoding="utf-8")
    assert len(source.splitlines()) <= MAX_MODULE_LINES
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"  # type: ignore[operator]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES  # type: ignore[operator]
    ]
    assert long == []


def test_no_module_imports_another_modules_private_names() -> None:
    reaching = sorted(
        f"{name} imports {full}"
        for name, path in MODULES.items()
        for full, _ in imported_names(name, path)
        if full.rpartition(".")[2].startswith("_")
        and not full.rpartition(".")[2].startswith("__")
        and owner(full) not in (None, name)
        and owner(full) != full  # a private module, not a private name
    )
    assert reaching == []


def test_the_hub_stays_offline_through_one_switch() -> None:
    setters = sorted(
        str(path.relative_to(ROOT))
        for path in MODULES.values()
        if "HF_HUB_OFFLINE" in path.read_text(encoding="utf-8")
    )
    assert setters == ["core/offline.py"]


def test_settings_and_secrets_are_read_from_the_environment_in_bot_only() -> None:
    """The config loader (`bot/config.py`, `secret`) reads `TWIN_*`; the composition root
    hands the environment to the LinkedIn session. Elsewhere the environment is only set
    (process defaults) or copied for a child process, never read."""
    reading = re.compile(r"os\.environ(?!\.setdefault)|os\.getenv")
    copying = re.compile(r"\{\*\*os\.environ")
    readers = sorted(
        str(path.relative_to(ROOT))
        for path in MODULES.values()
        if reading.search(copying.sub("", path.read_text(encoding="utf-8")))
    )
    assert readers == ["bot/config.py", "bot/twin.py"]
