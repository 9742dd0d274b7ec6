"""Files the owner names on the command line: markdown, text and saved HTML pages, or a
folder of them (searched recursively, in a stable order)."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path

from core.errors import InputError
from ingest.clean import clean_text
from ingest.document import Document, parse_date
from ingest.extractors.base import Crawl

__all__ = [
    "SUPPORTED_FILES",
    "SUPPORTED_SUFFIXES",
    "check_path",
    "crawl_files",
    "extract_file",
    "extract_path",
]

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".html", ".htm"})
SUPPORTED_FILES = ".md, .markdown, .txt, .html or .htm files, or a folder of them"
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_FIELD = re.compile(r"^([A-Za-z_][\w-]*)\s*:\s*(.*?)\s*$")
_H1 = re.compile(r"^#[ \t]+(.+?)[ \t#]*$")


def crawl_files(path: Path) -> Crawl:
    """A file or a folder, as a crawl. Every file a folder holds is present (read or not),
    so only a file deleted from it is removed from the twin."""
    if not path.is_dir():
        document = extract_file(_existing(path))
        return Crawl([document], present=frozenset({document.url}))
    files = _folder_files(path)
    documents, errors = _read_files(path, files)
    return Crawl(
        documents,
        present=frozenset(f.resolve().as_uri() for f in files),
        notes=[f"skipped {error}" for error in errors],
    )


def extract_path(path: Path) -> list[Document]:
    """Documents from one file, or from every supported file under a folder.

    In a folder, a file that cannot be read is skipped with a warning so one stray file
    does not block the rest; if none can be read, the first reason is raised."""
    if not _existing(path).is_dir():
        return [extract_file(path)]
    documents, errors = _read_files(path, _folder_files(path))
    for error in errors:
        log.warning("skipped %s", error)
    return documents


def check_path(path: Path) -> None:
    """Raise the InputError reading `path` would (missing, a folder without supported
    files, a file of another kind) without reading any file: what the command line checks
    before it opens the index."""
    if _existing(path).is_dir():
        _folder_files(path)
    else:
        _supported(path)


def _supported(path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        kind = f"'{suffix}' files" if suffix else "files without an extension"
        raise InputError(str(path), f"{kind} are not supported; supported: {SUPPORTED_FILES}")


def _existing(path: Path) -> Path:
    if not path.exists():
        raise InputError(str(path), f"no such file or folder; supported: {SUPPORTED_FILES}")
    return path


def _folder_files(path: Path) -> list[Path]:
    files = sorted(
        p
        for p in path.rglob("*")
        if p.suffix.lower() in SUPPORTED_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    if not files:
        raise InputError(str(path), f"the folder has no supported files; {SUPPORTED_FILES}")
    return files


def _read_files(folder: Path, files: list[Path]) -> tuple[list[Document], list[InputError]]:
    """The documents of the files that can be read, and why the others could not; when
    none can be read, the first reason is raised."""
    documents: list[Document] = []
    errors: list[InputError] = []
    for file in files:
        try:
            documents.append(extract_file(file))
        except InputError as exc:
            errors.append(exc)
    if not documents:
        raise errors[0]
    return documents, errors


def extract_file(path: Path) -> Document:
    _supported(path)
    suffix = path.suffix.lower()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), f"cannot read the file: {exc.strerror or exc}") from None
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            str(path),
            f"not UTF-8 text (invalid byte at offset {exc.start}); save it as UTF-8 and retry",
        ) from None
    if not raw.strip():
        raise InputError(str(path), "the file is empty")
    url = path.resolve().as_uri()
    if suffix in (".html", ".htm"):
        from ingest.extractors.page import parse_article  # lxml and trafilatura: HTML only

        # The pipeline fills source_url with the input the owner gave (file or folder).
        return replace(parse_article(raw, url, platform="local"), source_url="")
    return _text_document(raw, url, path)


def _text_document(raw: str, url: str, path: Path) -> Document:
    fields, body = _front_matter(raw.replace("\r\n", "\n"))
    title = fields.get("title", "")
    lines = body.lstrip("\n").split("\n")
    heading = _H1.match(lines[0]) if lines else None
    if heading is not None and (not title or title == heading.group(1)):
        title = heading.group(1)
        body = "\n".join(lines[1:])  # the heading is the title, stored on its own
    text = clean_text(body)
    if not text:
        raise InputError(str(path), "the file has no text besides its front matter")
    published = parse_date(fields.get("date"))
    if fields.get("date") and published is None:
        log.warning("%s: date %r is not ISO 8601 (YYYY-MM-DD); ignored", path, fields["date"])
    return Document(
        url=url,
        # Notes saved from a platform can say so (`platform: linkedin`) to be filtered as such.
        platform=fields.get("platform", "").strip().lower() or "local",
        title=title or path.stem,
        text=text,
        author=fields.get("author", ""),
        published_at=published,
    )


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    """`key: value` lines between `---` fences at the top (a YAML subset: enough for
    title/author/date, without a YAML dependency)."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return {}, text
    fields: dict[str, str] = {}
    for line in match.group(1).split("\n"):
        field = _FIELD.match(line)
        if field is not None:
            value = field.group(2)
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            fields[field.group(1).lower()] = value.strip()
    return fields, text[match.end() :]
