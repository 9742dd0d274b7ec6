"""Medium's export ("Download your information"): one HTML file per post in `posts/`.

Each file carries the title in `<h1 class="p-name">`, the body in `<section
data-field="body" class="e-content">`, the post's link in `<a class="p-canonical">` and
its date in `<time class="dt-published">`. Drafts are the files named `draft_...`:
skipped and counted. Responses (short replies to other posts) are the owner's words and
stay as ordinary posts. The owner's name comes from `profile/profile.html`, or else from
the byline most of the posts carry.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from typing import Any, ClassVar

from ingest.document import Document, parse_date, post_title
from ingest.exports.archive import ExportArchive
from ingest.exports.export import Export, chronological
from ingest.exports.text import (
    class_is,
    counted,
    drop,
    element_text,
    inline_text,
    parse_html,
)

__all__ = ["MediumExportReader"]

POSTS = "posts"
PROFILE = "profile/profile.html"
_POST_ID = re.compile(r"-([0-9a-f]{8,16})$")
_SQUASH = re.compile(r"[\W_]+")
# Link previews ("mixtape" cards) show another page's title and blurb: not the owner's words.
_NOT_WRITING = f".//*[{class_is('graf--mixtapeEmbed')}]"
_DISPLAY_NAME = re.compile(r"^\s*(?:display name|name)\s*:\s*(.+)$", re.IGNORECASE)


class MediumExportReader:
    kind: ClassVar[str] = "medium"
    label: ClassVar[str] = "Medium"
    layout: ClassVar[str] = "posts/*.html at the top of the zip"
    origin: ClassVar[str] = "Medium: Settings → Security and apps → Download your information"

    def matches(self, archive: ExportArchive) -> bool:
        # Substack's export has posts/*.html too, beside its posts.csv.
        has_posts = bool(archive.files_in(POSTS, ".html")) or archive.has(PROFILE)
        return has_posts and not archive.has("posts.csv")

    def read(self, archive: ExportArchive, *, site: str | None = None) -> Export:
        documents: list[Document] = []
        notes: list[str] = []
        drafts = 0
        for name in archive.files_in(POSTS, ".html"):
            if name.removeprefix(f"{POSTS}/").startswith("draft_"):
                drafts += 1
                continue
            document = _post(archive, name)
            if isinstance(document, str):
                notes.append(f"{name}: {document}, skipped")
            else:
                documents.append(document)
        if drafts:
            notes.insert(0, f"{counted(drafts, 'draft')} skipped")
        if not documents:
            reasons = "; ".join(notes) or "posts/ is empty"
            raise archive.fail(f"the Medium export has no published posts ({reasons})")
        owner = _profile_name(archive) or _usual_author(documents)
        documents = [_with_author(d, owner) for d in documents]
        return Export(self.kind, chronological(documents), owner, notes)


def _post(archive: ExportArchive, name: str) -> Document | str:
    """The post in one export file, or why there is none."""
    tree = parse_html(archive.text(name))
    if tree is None:
        return "not an HTML page"
    bodies = tree.xpath('//section[@data-field="body"]')
    if not bodies:
        return 'no post body (<section data-field="body">) in it'
    title = inline_text(_first(tree.xpath(f"//h1[{class_is('p-name')}]")))
    title = title or inline_text(tree.find(".//title"))
    body = bodies[0]
    drop(body, _NOT_WRITING)
    _drop_headline(body, title)
    text = element_text(body)
    if not text:
        return "the post has no text"
    post_id = _post_id(name)
    url = _first(tree.xpath(f"//a[{class_is('p-canonical')}]/@href"))
    url = url or (f"https://medium.com/p/{post_id}" if post_id else "")
    if not url:
        return "no canonical link in it"
    facts = {
        "file": name,
        "medium_id": post_id,
        "subtitle": inline_text(_first(tree.xpath('//section[@data-field="subtitle"]'))),
    }
    return Document(
        url=str(url).strip(),
        platform="medium",
        title=title or post_title(text),
        text=text,
        author=inline_text(_first(tree.xpath(f"//a[{class_is('p-author')}]"))),
        published_at=parse_date(
            _first(tree.xpath(f"//time[{class_is('dt-published')}]/@datetime"))
        ),
        owned=True,
        meta={key: value for key, value in facts.items() if value},
    )


def _drop_headline(body: Any, title: str) -> None:
    """Medium repeats the title as the body's first heading; it is stored on its own."""
    wanted = _squash(title)
    for heading in body.xpath(".//h1 | .//h2 | .//h3 | .//h4")[:1]:
        if wanted and _squash(heading.text_content()) == wanted:
            heading.drop_tree()


def _profile_name(archive: ExportArchive) -> str:
    if not archive.has(PROFILE):
        return ""
    tree = parse_html(archive.text(PROFILE))
    if tree is None:
        return ""
    for item in tree.iter("li"):
        if match := _DISPLAY_NAME.match(inline_text(item)):
            return match.group(1).strip()
    name = inline_text(_first(tree.xpath(f"//*[{class_is('p-name')}]")))
    return "" if name.lower() == "profile" else name


def _usual_author(documents: list[Document]) -> str:
    authors = Counter(d.author for d in documents if d.author)
    return authors.most_common(1)[0][0] if authors else ""


def _with_author(document: Document, owner: str) -> Document:
    return document if document.author or not owner else replace(document, author=owner)


def _post_id(name: str) -> str:
    match = _POST_ID.search(name.removesuffix(".html"))
    return match.group(1) if match else ""


def _first(values: list[Any]) -> Any | None:
    return values[0] if values else None


def _squash(text: str) -> str:
    return _SQUASH.sub("", text.lower())
