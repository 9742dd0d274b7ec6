"""LinkedIn's "Get a copy of your data" archive.

Posts are rows of `Shares.csv` (Date, ShareLink, ShareCommentary, SharedUrl, MediaUrl,
Visibility); long-form articles are HTML files in `Articles/Articles/` (or `Articles/`);
`Profile.csv` names the account holder. A post keeps its ShareLink as its url, as given,
so a live crawl of the same post finds the same document.

A share without commentary is a bare repost (or a picture without words): none of it is
the owner's writing, so it is skipped and counted. Every post that has commentary is the
owner's, a repost with their thoughts included (its link goes to `meta["shared_url"]`).
An article the archive says was created but never published is a draft: skipped, counted.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import quote, unquote

from ingest.clean import clean_text
from ingest.document import Document, parse_date, post_title
from ingest.exports.archive import ExportArchive
from ingest.exports.export import Export, chronological
from ingest.exports.text import counted, drop, element_text, inline_text, parse_html

__all__ = ["LinkedInExportReader"]

SHARES = "Shares.csv"
PROFILE = "Profile.csv"
ARTICLE_FOLDERS = ("Articles/Articles", "Articles")
SHARE_COLUMNS = ("Date", "ShareLink", "ShareCommentary")
_URN = re.compile(r"urn:li:[A-Za-z]+:[\w-]+")
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?")
# Article files are named like "2023-05-04 14:03:11.0-My-First-Article.html".
_FILE_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[\d :.T_-]*?-(?=\D)")
_SLUG_JUNK = re.compile(r"[^\w]+")


class LinkedInExportReader:
    kind: ClassVar[str] = "linkedin"
    label: ClassVar[str] = "LinkedIn"
    layout: ClassVar[str] = "Shares.csv or Articles/ at the top of the zip"
    origin: ClassVar[str] = "LinkedIn: Settings → Data privacy → Get a copy of your data"

    def matches(self, archive: ExportArchive) -> bool:
        return archive.has(SHARES) or archive.has(PROFILE) or bool(_article_files(archive))

    def read(self, archive: ExportArchive, *, site: str | None = None) -> Export:
        notes: list[str] = []
        owner = _owner(archive, notes)
        documents: list[Document] = []
        if archive.has(SHARES):
            documents += _posts(archive, owner, notes)
        articles = _article_files(archive)
        documents += _articles(archive, articles, owner, notes)
        if not documents:
            if not archive.has(SHARES) and not articles:
                notes.append(
                    "the archive has neither Shares.csv nor Articles/: request it again with"
                    " your posts and articles included"
                )
            reasons = "; ".join(notes) or "Shares.csv lists no posts"
            raise archive.fail(
                f"the LinkedIn export has no posts or articles to import ({reasons})"
            )
        return Export(self.kind, chronological(documents), owner, notes)


def _owner(archive: ExportArchive, notes: list[str]) -> str:
    """The name in Profile.csv; a profile that does not give it costs only the name."""
    if not archive.has(PROFILE):
        return ""
    rows = archive.rows(PROFILE, (), expected="LinkedIn's Profile.csv")
    first = rows[0] if rows else {}
    name = " ".join(f"{first.get('First Name', '')} {first.get('Last Name', '')}".split())
    if not name:
        notes.append(f"{PROFILE} gives no First Name or Last Name: the owner's name is unknown")
    return name


def _posts(archive: ExportArchive, owner: str, notes: list[str]) -> list[Document]:
    rows = archive.rows(SHARES, SHARE_COLUMNS, expected="LinkedIn's Shares.csv")
    documents: list[Document] = []
    bare = unlinked = 0
    for row in rows:
        text = clean_text(row["ShareCommentary"])
        link = row["ShareLink"].strip()
        if not text:
            bare += 1
            continue
        if not link:
            unlinked += 1
            continue
        facts = {
            "urn": _urn(link),
            "visibility": row.get("Visibility", "").strip(),
            "shared_url": row.get("SharedUrl", "").strip(),
            "media_url": row.get("MediaUrl", "").strip(),
        }
        documents.append(
            Document(
                url=link,
                platform="linkedin",
                title=post_title(text),
                text=text,
                author=owner,
                # LinkedIn writes UTC times without a zone ("2023-05-04 14:03:11").
                published_at=parse_date(row["Date"]),
                owned=True,
                meta={key: value for key, value in facts.items() if value},
            )
        )
    if bare:
        notes.append(f"{counted(bare, 'share')} without commentary skipped: reposts or media only")
    if unlinked:
        notes.append(f"{counted(unlinked, 'share')} without a ShareLink skipped")
    return documents


def _urn(link: str) -> str:
    match = _URN.search(unquote(link))
    return match.group(0) if match else ""


def _article_files(archive: ExportArchive) -> list[str]:
    for folder in ARTICLE_FOLDERS:
        if files := archive.files_in(folder, ".html"):
            return files
    return []


def _articles(
    archive: ExportArchive, names: list[str], owner: str, notes: list[str]
) -> list[Document]:
    documents: list[Document] = []
    drafts = 0
    for name in names:
        tree = parse_html(archive.text(name))
        if tree is None:
            notes.append(f"{name}: not an HTML page, skipped")
            continue
        published, created = _stamp(tree, "published"), _stamp(tree, "created")
        if created and not published:
            drafts += 1
            continue
        document = _article(tree, name, owner, published)
        if document is None:
            notes.append(f"{name}: the article has no text, skipped")
        else:
            documents.append(document)
    if drafts:
        notes.append(f"{counted(drafts, 'draft article')} skipped: created, never published")
    return documents


def _article(tree: Any, name: str, owner: str, published: str) -> Document | None:
    heading = tree.find(".//h1")
    title = inline_text(heading) or inline_text(tree.find(".//title"))
    link = _first(heading.xpath(".//a/@href") if heading is not None else [])
    link = link or _first(tree.xpath('//link[@rel="canonical"]/@href'))
    link = link or _first(tree.xpath('//meta[@property="og:url"]/@content'))
    body = tree.find(".//body")
    if body is None:
        return None
    drop(body, './/h1 | .//p[@class="created"] | .//p[@class="published"]')
    text = element_text(body)
    if not text:
        return None
    stem = name.rsplit("/", 1)[-1].removesuffix(".html")
    return Document(
        url=link or _pulse_url(stem),
        platform="linkedin",
        title=title or post_title(text),
        text=text,
        author=owner,
        published_at=parse_date(published),
        owned=True,
        meta={"file": name},
    )


def _stamp(tree: Any, kind: str) -> str:
    """The date in `<p class="published">Published on 2023-05-04 14:03</p>`."""
    for paragraph in tree.xpath(f'//p[@class="{kind}"]'):
        if match := _STAMP.search(paragraph.text_content()):
            return match.group(0)
    return ""


def _pulse_url(stem: str) -> str:
    """A stable url for an article the file does not link: LinkedIn's article path with
    the file's name (without its date) as the slug."""
    slug = _SLUG_JUNK.sub("-", _FILE_STAMP.sub("", stem)).strip("-_").lower() or "article"
    return f"https://www.linkedin.com/pulse/{quote(slug)}"


def _first(values: list[Any]) -> str:
    return next((str(v).strip() for v in values if str(v).strip()), "")
