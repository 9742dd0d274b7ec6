"""One fetched web page as a document: the article parser the article and feed extractors
share (the feed extractor reads an entry's own page with it).

trafilatura finds the main content and the metadata; `html_text` turns its content tree
into text (its own writers collapse `<pre>` whitespace and backslash-escape `_` and `*`).
Before trafilatura sees the page, sharing/related-posts boxes are pruned, MathML becomes
TeX and code blocks are lifted out, to be put back verbatim.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime
from urllib.parse import unquote, urlsplit

import lxml.html  # type: ignore[import-untyped]
import trafilatura
from trafilatura.metadata import extract_metadata
from trafilatura.settings import set_date_params
from trafilatura.utils import load_html

from core.errors import ExtractionError
from ingest.clean import clean_text
from ingest.content import TEXT_TYPES
from ingest.document import Document, parse_date
from ingest.extractors.html_text import (
    inline_math,
    lift_code_blocks,
    restore_code,
    tree_blocks,
)
from ingest.fetcher import FetchedPage

__all__ = ["MIN_TEXT_CHARS", "NO_TEXT", "document_from_page", "parse_article", "parse_date"]
__all__ += ["platform_for", "title_from_url"]

NO_TEXT = "no article text found on the page (is it a login wall or a script-only page?)"
MIN_TEXT_CHARS = 200  # less main text than this is navigation, a teaser or a wall, not writing

_PRUNED_NAMES = (
    "related", "next-post", "nextstory", "more-stories", "recommend", "newsletter", "share",
    "sharing", "social", "subscribe", "promo", "sidebar", "navbox", "editsection", "noprint",
)  # fmt: skip
_PRUNE_XPATH = (
    "//*[not(self::html or self::body or self::article or self::main)"
    " and not(.//h1 or .//article or .//main)"
    " and ("
    + " or ".join(f'contains(@class, "{n}") or contains(@id, "{n}")' for n in _PRUNED_NAMES)
    + ' or @id = "toc" or @role = "navigation")]'
)
# No extensive search: it guesses from any dated link on the page (an image permalink).
_TITLE_SEPARATORS = re.compile(r"\s+[|–—·:-]+\s+")
_AUTHOR_PREFIX = re.compile(r"^(?:view all posts by|posted by|written by|by)\s+", re.IGNORECASE)
_JSONLD_DATE = re.compile(r'"datePublished"\s*:\s*"([^"]{8,40})"')
_DATE_XPATHS = (
    '//meta[@property="article:published_time"]/@content',
    '//meta[@itemprop="datePublished"]/@content',
    '//time[@itemprop="datePublished"]/@datetime',
)


def platform_for(url: str) -> str:
    """Medium and Substack posts count as those platforms wherever they come from."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "medium.com" or host.endswith(".medium.com"):
        return "medium"
    if host.endswith(".substack.com"):
        return "substack"
    return "web"


# trafilatura parses every page with one module-level lxml parser, and lxml parsers must
# not be shared between threads: pages parsed at once in the ingest's worker threads
# crashed the process ("double free or corruption"). One page at a time.
_PARSING = threading.Lock()


def parse_article(html: str, url: str, *, platform: str | None = None) -> Document:
    """The main text and metadata of one HTML page; no network. `ExtractionError` when the
    page holds no article text. Safe from any thread (pages are parsed one at a time)."""
    with _PARSING:
        return _parse_article(html, url, platform)


def _parse_article(html: str, url: str, platform: str | None) -> Document:
    tree = load_html(html)
    if tree is None:
        raise ExtractionError(url, "the response is not an HTML page")
    published = _meta_published(tree, html)
    # Metadata before pruning: bylines and dates often sit in the boxes pruned below.
    meta = extract_metadata(tree, default_url=url, date_config=set_date_params(extensive=False))
    _prune(tree)
    inline_math(tree)
    codes = lift_code_blocks(tree)
    result = trafilatura.bare_extraction(
        tree,
        url=url,
        include_comments=False,
        include_tables=True,
        include_formatting=False,
        include_images=False,
        include_links=False,
    )
    if result is None or isinstance(result, dict) or result.body is None:
        raise ExtractionError(url, NO_TEXT)
    title = _clean_title(meta.title or "", meta.sitename or "", url)
    blocks = _drop_headline(tree_blocks(result.body), title)
    text = clean_text(restore_code("\n\n".join(blocks), codes))
    if len(text) < MIN_TEXT_CHARS:
        raise ExtractionError(url, NO_TEXT)
    return Document(
        url=url,
        platform=platform or platform_for(url),
        title=title or _first_heading(text) or title_from_url(url),
        text=text,
        author=_clean_author(meta.author or ""),
        published_at=published or parse_date(meta.date),
        source_url=url,
    )


def document_from_page(page: FetchedPage) -> Document:
    """An HTML or plain-text response as one document (plain text is taken as it is)."""
    url = page.final_url
    if page.content_type not in TEXT_TYPES:
        return parse_article(page.text(), url)
    text = clean_text(page.text())
    if not text:
        raise ExtractionError(url, "the page is empty")
    title = _first_heading(text) or title_from_url(url)
    return Document(url=url, platform=platform_for(url), title=title, text=text, source_url=url)


def _prune(tree: lxml.etree._Element) -> None:
    """Remove sharing, related-posts, newsletter and navigation boxes that trafilatura
    sometimes keeps (a blog's "next post" teasers read like article paragraphs)."""
    for el in tree.xpath(_PRUNE_XPATH):
        if el.getparent() is not None:
            el.drop_tree()  # keeps the text that follows the element


def _drop_headline(blocks: list[str], title: str) -> list[str]:
    """The body often repeats the title as its headline, maybe after a short kicker
    ("Tech", a date line); the title is stored on its own, so drop them."""
    for i, block in enumerate(blocks[:3]):
        squashed, wanted = _squash(block.lstrip("# ")), _squash(title)
        if wanted and squashed.startswith(wanted) and len(squashed) <= len(wanted) + 30:
            if all(len(b) < 80 for b in blocks[:i]):
                return blocks[i + 1 :]
            break
    return blocks


def _meta_published(tree: lxml.etree._Element, html: str) -> datetime | None:
    """Publication time from page metadata: more precise than trafilatura's date (which is a
    day, and sometimes the modification day)."""
    for xpath in _DATE_XPATHS:
        for value in tree.xpath(xpath):
            if (parsed := parse_date(str(value))) is not None:
                return parsed
    for match in _JSONLD_DATE.finditer(html):
        try:
            value = json.loads(f'"{match.group(1)}"')
        except ValueError:
            continue
        if (parsed := parse_date(value)) is not None:
            return parsed
    return None


def _clean_title(title: str, sitename: str, url: str) -> str:
    """Drop a trailing ` | Site Name` (the site's name, not the article's)."""
    title = " ".join(title.split())
    parts = _TITLE_SEPARATORS.split(title)
    if len(parts) < 2:
        return title
    site = _squash(sitename)
    host = _squash((urlsplit(url).hostname or "").removeprefix("www.").split(".")[0])
    last = _squash(parts[-1])
    if last and ((site and (last in site or site in last)) or (host and host in last)):
        return title[: title.rfind(parts[-1])].rstrip(" |–—·:-")
    return title


def _clean_author(author: str) -> str:
    return _AUTHOR_PREFIX.sub("", " ".join(author.split()))


def _first_heading(text: str) -> str:
    for line in text.split("\n"):
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return ""


def title_from_url(url: str) -> str:
    parts = urlsplit(url)
    slug = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
    words = re.sub(r"\.\w+$", "", slug).replace("-", " ").replace("_", " ").strip()
    return words.capitalize() if words else parts.hostname or url


def _squash(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())
