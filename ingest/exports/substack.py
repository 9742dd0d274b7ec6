"""Substack's export (Settings → Exports): `posts.csv` lists every post, `posts/<post_id>.html`
holds each one's body without the page around it.

`post_id` is "<numeric id>.<slug>". The export does not say where the publication lives,
so a post's real link (`https://name.substack.com/p/<slug>`, what a feed crawl stores) can
only be built when the owner gives that address (`site`). Without it a post is stored
under `https://substack.com/home/post/p-<numeric id>`: stable, unique, and a link Substack
itself resolves to the post; a note says how to get the real links instead. Unpublished
posts (`is_published` false) are skipped and counted.
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlsplit

from core.errors import InputError
from ingest.document import Document, parse_date, post_title
from ingest.exports.archive import ExportArchive
from ingest.exports.export import Export, chronological
from ingest.exports.text import class_is, counted, drop, element_text, parse_html
from ingest.urls import normalize_url

__all__ = ["SubstackExportReader", "substack_site"]

POSTS_CSV = "posts.csv"
POST_COLUMNS = ("post_id", "post_date", "is_published", "title")
_PUBLISHED = frozenset({"true", "t", "1", "yes"})
# Buttons, sign-up forms and embeds of other people's posts, tweets and files.
_CHROME = (
    "button-wrapper", "subscription-widget-wrap", "subscribe-widget", "embedded-post-wrap",
    "digest-post-embed", "tweet", "instagram", "file-embed-wrapper", "comment",
    "paywall-jump", "youtube-wrap", "share-dialog",
)  # fmt: skip
_CHROME_XPATH = " | ".join(f".//*[{class_is(name)}]" for name in _CHROME)


class SubstackExportReader:
    kind: ClassVar[str] = "substack"
    label: ClassVar[str] = "Substack"
    layout: ClassVar[str] = "posts.csv and posts/ at the top of the zip"
    origin: ClassVar[str] = "Substack: your publication's Settings → Exports → New export"

    def matches(self, archive: ExportArchive) -> bool:
        return archive.has(POSTS_CSV)

    def read(self, archive: ExportArchive, *, site: str | None = None) -> Export:
        base = substack_site(site) if site else None
        rows = archive.rows(POSTS_CSV, POST_COLUMNS, expected="Substack's posts.csv")
        documents: list[Document] = []
        notes: list[str] = []
        unpublished = 0
        for row in rows:
            if row["is_published"].strip().lower() not in _PUBLISHED:
                unpublished += 1
                continue
            document = _post(archive, row, base)
            if isinstance(document, str):
                notes.append(document)
            else:
                documents.append(document)
        if unpublished:
            notes.insert(0, f"{counted(unpublished, 'unpublished post')} skipped")
        if not documents:
            reasons = "; ".join(notes) or "posts.csv lists no posts"
            raise archive.fail(f"the Substack export has no published posts ({reasons})")
        if base is None:
            notes.append(
                "no publication address given: posts are stored under"
                " https://substack.com/home/post/p-<id> links; give the address"
                " (e.g. https://name.substack.com) to store them under their real links"
            )
        return Export(self.kind, chronological(documents), "", notes)


def substack_site(site: str) -> str:
    """The publication's address as `scheme://host`; InputError when it is not one."""
    raw = site.strip()
    try:
        url = normalize_url(raw if "://" in raw else f"https://{raw}")
    except InputError as exc:
        raise InputError(
            site,
            f"not a web address ({exc.reason}): give your publication's address,"
            " e.g. https://name.substack.com",
        ) from None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _post(archive: ExportArchive, row: dict[str, str], base: str | None) -> Document | str:
    """The document for one published row of posts.csv, or a note on why there is none."""
    post_id = row["post_id"].strip()
    number, _, slug = post_id.partition(".")
    name = f"posts/{post_id}.html"
    if not archive.has(name):
        return f"{name} is missing, skipped"
    if not number.isdigit() and not (base and slug):
        return f"{name}: post_id {post_id!r} is not <number>.<slug>, skipped"
    tree = parse_html(archive.text(name))
    text = ""
    if tree is not None:
        drop(tree, _CHROME_XPATH)
        body = tree.find(".//body")
        text = element_text(tree if body is None else body)
    if not text:
        return f"{name} has no text, skipped"
    subtitle = " ".join(row.get("subtitle", "").split())
    facts = {
        "post_id": number,
        "slug": slug,
        "type": row.get("type", "").strip(),
        "audience": row.get("audience", "").strip(),
        "subtitle": subtitle,
    }
    return Document(
        url=f"{base}/p/{slug}" if base and slug else f"https://substack.com/home/post/p-{number}",
        platform="substack",
        title=" ".join(row["title"].split()) or subtitle or post_title(text),
        text=text,
        published_at=parse_date(row["post_date"]) or parse_date(row.get("email_sent_at")),
        owned=True,
        meta={key: value for key, value in facts.items() if value},
    )
