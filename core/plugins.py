"""The one extension mechanism: Python entry points, one group per seam.

- `llm_twin.index`: a `VectorIndex` class (built-ins: lance, weaviate);
- `llm_twin.generators`: a `Generator` class (built-ins: hf, exl2, openai);
- `llm_twin.extractors`: an `Extractor` class (built-ins: medium, substack, github, linkedin).

Each class has a `from_settings` classmethod that builds it from its config section.

The built-ins are declared in this project's `pyproject.toml` exactly as a third party's
package declares its own (`[project.entry-points."llm_twin.index"]`), and a plug-in is
found the same way once its package is installed. An entry point is loaded only when its
name is asked for, so choosing `lance` never imports the Weaviate client, and `hf` never
imports exllamav2.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

from core.errors import ConfigError

INDEX = "llm_twin.index"
GENERATORS = "llm_twin.generators"
EXTRACTORS = "llm_twin.extractors"


def registered(group: str) -> dict[str, EntryPoint]:
    """Every entry point of `group` by name (read afresh: a plug-in installed while the
    process runs is seen on the next call)."""
    return {point.name: point for point in entry_points(group=group)}


def names(group: str) -> tuple[str, ...]:
    return tuple(sorted(registered(group)))


def load(group: str, name: str, *, key: str) -> Any:
    """The object `name` registers in `group`; an unknown name is a ConfigError naming
    `key` (the config key that chose it) and the names on offer."""
    points = registered(group)
    if name not in points:
        known = ", ".join(sorted(points)) or "none (is llm-twin installed with pip?)"
        raise ConfigError(f"config key {key} must be one of {known}, got {name!r}")
    return points[name].load()
