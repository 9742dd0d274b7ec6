"""Faults of the disk and the file system in one line: what failed, on which path, and
what to do about it. A full disk, a read-only or unreadable TWIN_HOME and a missing
folder each get their own advice, whether the error came from Python (`OSError`), from
SQLite (its message) or from LanceDB's Rust side ("... (os error 28)")."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

_OS_ERROR = re.compile(r"\(os error (\d+)\)")
# LanceDB appends where in its Rust sources an error was raised: not for the owner.
_SOURCE_LOCATION = re.compile(r",\s*/\S+\.rs:\d+:\d+")


def error_number(exc: BaseException) -> int | None:
    """The errno behind `exc`: an OSError's own, or the "(os error N)" in its message."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.errno
    found = _OS_ERROR.search(str(exc))
    return int(found.group(1)) if found else None


def is_os_fault(exc: BaseException) -> bool:
    """Whether `exc` is the file system's doing (not a bug of ours)."""
    return isinstance(exc, OSError) or error_number(exc) is not None or "LanceError(IO)" in str(exc)


def first_line(exc: BaseException) -> str:
    """`exc`'s message, first line only, without source locations."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = _SOURCE_LOCATION.sub("", str(exc)).strip()
    return (text.splitlines() or [type(exc).__name__])[0]


def advice(number: int | None, path: Path) -> str:
    """What to do about an error `number` on `path`."""
    if number in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk holding {path} is full: free some space, then run it again"
    return folder_problem(path, number) or f"check that {path} is on a working, writable disk"


def folder_problem(path: Path, number: int | None = None, *, folder: bool = True) -> str | None:
    """What keeps this process from using `path` (a folder, unless `folder` is False:
    read-only, not its own, missing, a file), with what to do; None when nothing can be
    seen from here."""
    existing = _existing(path)
    if (folder or existing != path) and os.path.exists(existing) and not os.path.isdir(existing):
        return f"{existing} is a file, not a folder: move it, or set TWIN_HOME elsewhere"
    if number == errno.EROFS or _read_only(existing):
        return (
            f"{existing} is on a read-only file system: make it writable, or set TWIN_HOME"
            " to a folder on a writable disk"
        )
    if number in (errno.EACCES, errno.EPERM) or not _usable(existing):
        return (
            f"this user cannot read and write {existing}: fix its permissions (chmod u+rwx),"
            " or set TWIN_HOME to a folder you own"
        )
    if number == errno.ENOENT:
        return f"{path} does not exist: create it, or set TWIN_HOME to a folder you own"
    return None


def nearly_full(path: Path) -> bool:
    """Whether the disk holding `path` has (almost) no room left: what an unexplained
    I/O error on it then means."""
    try:
        stat = os.statvfs(_existing(path))
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < 256 * 1024


def describe(exc: BaseException, path: Path, action: str, what: str) -> str:
    """E.g. "index /home/x/.twin/index: writing chunks failed (No space left on device
    (os error 28)); the disk holding /home/x/.twin/index is full: free some space, then
    run it again"."""
    return f"{what} {path}: {action} failed ({first_line(exc)}); {advice(error_number(exc), path)}"


def _existing(path: Path) -> Path:
    """`path`, or its nearest ancestor that exists (os.path never raises here)."""
    while not os.path.exists(path) and path.parent != path:
        path = path.parent
    return path


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _usable(path: Path) -> bool:
    if os.path.isdir(path):
        return os.access(path, os.R_OK | os.W_OK | os.X_OK)
    return os.access(path, os.R_OK | os.W_OK)
