"""Receiving a file from the page: a platform export `.zip` or a `.md`/`.txt`/`.html` file.

The body is streamed to disk and cut off past `web.max_upload_mb` (413), so a large
upload never sits in memory. Before anything is kept it is checked: the name's kind, and
for a zip that it is one of the exports the importers read (ingest/exports), so a zip
that is not an export is refused with the importers' own reason (422) and nothing is
stored. A good file is moved into `$TWIN_HOME/uploads` under its (cleaned) name: the same
name uploaded again replaces it, and ingesting it then updates that source.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from aiohttp import BodyPartReader, web

from bot.web.bad_input import ApiError
from core.errors import InputError
from ingest.exports import EXPORT_KINDS, ZipLimits, detect_export, read_export
from ingest.extractors.local import SUPPORTED_SUFFIXES
from ingest.settings import MB, ExportsSettings

_SUFFIXES = tuple(sorted({*SUPPORTED_SUFFIXES, ".zip"}))
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_CHUNK = 256 * 1024
_FIELD_LIMIT = 2000  # characters of a text field (kind, site)


@dataclass(frozen=True)
class Upload:
    name: str  # as kept in the uploads folder
    path: Path
    hints: dict[str, str] = field(default_factory=dict)  # kind, site: for the importer

    @property
    def uri(self) -> str:
        """The source URL the ingest stores it under."""
        return self.path.resolve().as_uri()


async def receive_upload(
    request: web.Request, folder: Path, *, limit_mb: int, exports: ExportsSettings
) -> Upload:
    """The uploaded file, checked and kept in `folder`; ApiError when it is refused."""
    limit = limit_mb * MB
    too_large = ApiError(
        413,
        f"the file is larger than web.max_upload_mb ({limit_mb} MB); raise that setting, or "
        "run llm-twin ingest PATH on the machine itself",
        key="file",
    )
    if request.content_length is not None and request.content_length > limit + MB:
        raise too_large
    if not request.content_type.startswith("multipart/form-data"):
        raise ApiError(400, "send the file as multipart/form-data, in a field named file")
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    temporary = folder / f".upload-{secrets.token_hex(6)}"
    try:
        name, hints = await _read_parts(await request.multipart(), temporary, limit, too_large)
        await asyncio.to_thread(_check, temporary, name, hints, exports)
        final = folder / name
        await asyncio.to_thread(os.replace, temporary, final)
    finally:
        await asyncio.to_thread(temporary.unlink, missing_ok=True)
    return Upload(name, final, hints)


async def _read_parts(
    reader: object, temporary: Path, limit: int, too_large: ApiError
) -> tuple[str, dict[str, str]]:
    name = ""
    hints: dict[str, str] = {}
    async for part in reader:  # type: ignore[attr-defined]
        if not isinstance(part, BodyPartReader):
            raise ApiError(400, "send plain form fields: file, and optionally kind and site")
        if part.name == "file":
            # aiohttp's client %-quotes the name (browsers send it as is): read it plain.
            name = _clean_name(unquote(part.filename or ""))
            await _save(part, temporary, limit, too_large)
        elif part.name in ("kind", "site"):
            value = (await part.read_chunk(_FIELD_LIMIT)).decode(errors="replace").strip()
            if value:
                hints[part.name] = value
    if not name:
        raise ApiError(400, "no file: send it in a multipart field named file", key="file")
    return name, hints


async def _save(part: BodyPartReader, temporary: Path, limit: int, too_large: ApiError) -> None:
    size = 0
    file = await asyncio.to_thread(temporary.open, "wb")
    try:
        while chunk := await part.read_chunk(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise too_large
            await asyncio.to_thread(file.write, chunk)
    finally:
        await asyncio.to_thread(file.close)


def _clean_name(filename: str) -> str:
    base = Path(filename.replace("\\", "/")).name
    stem, dot, suffix = base.rpartition(".")
    cleaned = _UNSAFE.sub("-", stem if dot else base).strip("-.") or "upload"
    return f"{cleaned[:120]}.{suffix.lower()}" if dot else cleaned[:120]


def _check(path: Path, name: str, hints: dict[str, str], exports: ExportsSettings) -> None:
    """Refuse what the importers would refuse, before anything is kept."""
    suffix = Path(name).suffix.lower()
    if suffix not in _SUFFIXES:
        raise ApiError(
            422,
            f"{name}: upload a platform export .zip or a {', '.join(sorted(SUPPORTED_SUFFIXES))}"
            " file",
            key="file",
        )
    if path.stat().st_size == 0:
        raise ApiError(422, f"{name} is empty", key="file")
    kind = hints.get("kind")
    if kind is not None and kind not in EXPORT_KINDS:
        raise ApiError(400, f"kind must be one of {', '.join(EXPORT_KINDS)}, got {kind!r}")
    if suffix != ".zip":
        return
    limits = ZipLimits(
        max_total_bytes=exports.max_total_mb * MB,
        max_files=exports.max_files,
        max_file_bytes=exports.max_file_mb * MB,
    )
    try:
        if kind is not None or detect_export(path, limits=limits) is None:
            read_export(path, kind, site=hints.get("site"), limits=limits)  # raises its reason
    except InputError as exc:
        reason = str(exc).replace(str(path), name)
        raise ApiError(422, reason, key="file") from exc
