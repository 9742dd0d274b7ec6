"""The user-facing error hierarchy.

It lives in the base layer so every package can raise these without importing upward.
Each message says what went wrong *and* what to do.
"""

from __future__ import annotations


class TwinError(Exception):
    """Base of every error the owner is meant to read."""


class ConfigError(TwinError):
    """A config key, env var or flag has a value we cannot use."""


class InputError(TwinError):
    """One input (a URL, a path, a query) was rejected; other inputs are unaffected."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class FetchError(InputError):
    """The network refused, timed out, or returned something we will not ingest."""


class ExtractionError(InputError):
    """The content was fetched but holds nothing we can turn into documents."""


class IndexMismatchError(TwinError):
    """The on-disk index was built with other settings than the ones configured now."""


class StorageError(TwinError):
    """The warehouse or the index could not be read or written."""


class GenerationError(TwinError):
    """The model failed mid-generation (a server dropped the stream, a device error)."""


class TrainingError(TwinError):
    """Fine-tuning stopped: out of memory, a diverged loss, an interrupted run."""
