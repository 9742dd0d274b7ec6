from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest
from aiohttp import web

from core.errors import ExtractionError, FetchError
from ingest.document import Document
from ingest.extractors.article import NO_TEXT, ArticleExtractor, parse_article
from ingest.extractors.html_text import html_to_text
from ingest.fetcher import Fetcher
from ingest.settings import FetchPolicy
from tests.http_server import FIXTURES, LocalServer

PAGES = FIXTURES / "pages"
# Phrases every one of these pages carries in its navigation, footer, cookie banner or
# sidebar (checked per page below); none of them belongs in the article text.
BOILERPLATE = re.compile(
    r"cookie|privacy policy|terms of (?:use|service)|sign in|log in|subscribe|newsletter"
    r"|skip to|follow us|all rights reserved|share this|advertisement|\[edit\]",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Page:
    url: str
    title: str
    author: str = ""
    published: datetime | None = None
    contains: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()  # page-specific boilerplate that must not come through
    min_paragraphs: int = 3
    code: tuple[str, ...] = field(default=())  # verbatim lines inside a fenced block


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC)


PAGE_FACTS: dict[str, Page] = {
    "blog.python.org.html": Page(
        "https://blog.python.org/2016/12/python-360-is-now-available.html",
        "Python 3.6.0 is now available!",
        "Ned Deily",
        _utc(2016, 12, 23),
        contains=("Python 3.6.0 is the newest major release", "Python Software Foundation"),
    ),
    "boingboing.net.millenials.html": Page(
        "https://boingboing.net/2013/07/19/hating-millennials-the-preju.html",
        "Hating Millennials - the prejudice you're allowed to boast about",
        "Cory Doctorow",
        _utc(2013, 7, 19, 17, 8, 44),
        contains=("Cartoonist Matt Bors", "(via Geeks Are Sexy)"),
        # the "next post" teasers under the article
        absent=("Choir! Choir! Choir!", "MATLAB", "Canadaland"),
        min_paragraphs=3,
    ),
    "caktusgroup.com.django.html": Page(
        "http://www.caktusgroup.com/blog/2015/06/08/testing-client-side-applications-django-post-mortem/",
        "Testing Client-Side Applications with Django Post Mortem",
        "Mark Lavin",
        _utc(2015, 6, 8, 12, 22, 35),
        contains=("a presenter’s nightmare: a broken demo", "override_settings"),
        code=(
            "from django.test.utils import override_settings\n\nfrom selenium import webdriver",
            "    @classmethod\n    def setUpClass(cls):\n"
            "        cls.browser = webdriver.PhantomJS()",
        ),
    ),
    "creativecommons.org.html": Page(
        "https://creativecommons.org/about/",
        "What we do",
        contains=("Creative Commons Affiliate Network", "## Global Affiliate Network"),
    ),
    "en.wikipedia.org.tsne.html": Page(
        "https://en.wikipedia.org/wiki/T-distributed_stochastic_neighbor_embedding",
        "T-distributed stochastic neighbor embedding",
        published=_utc(2013, 6, 23, 20, 26, 6),
        contains=("Laurens van der Maaten and Geoffrey Hinton", "Kullback–Leibler divergence"),
        absent=("Machine learning and", "## Contents", "Jump to navigation"),
    ),
    "github.blog.spiceland.html": Page(
        "https://github.blog/2019-03-29-leader-spotlight-erin-spiceland/",
        "Leader spotlight: Erin Spiceland",
        "Jessica Rudder",
        _utc(2019, 3, 29, 16, 0, 49),
        contains=("Software Engineer for SpaceX", "## What was your first job in tech like?"),
    ),
    "gregoryszorc.com.python3.html": Page(
        "https://gregoryszorc.com/blog/2020/01/13/mercurial%27s-journey-to-and-reflections-on-python-3/",
        "Mercurial's Journey to and Reflections on Python 3",
        published=_utc(2020, 1, 13),
        # the page hard-wraps its paragraphs in the HTML source: they come out whole
        contains=("first released in April 2005 (the same month that Git was initially",),
    ),
    "kulu-media.com.meta-outage.html": Page(
        "https://kulu-media.com/meta-outage-hits-facebook-instagram-and-messenger/",
        "Meta Outage Hits Facebook, Instagram and Messenger",
        "Kulu Media News Desk",
        _utc(2026, 6, 12, 15, 11, 51),
        contains=("more than 104,000 Facebook users", "## Meta Yet to Explain Meta Outage"),
        absent=("### Tech",),
    ),
    "lemire.me.json.html": Page(
        "https://lemire.me/blog/2019/08/02/json-parsing-simdjson-vs-json-for-modern-c/",
        "JSON parsing: simdjson vs. JSON for Modern C++",
        "Daniel Lemire",
        _utc(2019, 8, 2),
        contains=("apache_builds | 2.3 GB/s | 0.098 GB/s", "about 20x slower"),
        absent=("Thanks, for posting this", "View all posts by", "monospaced font"),
    ),
    "nationalgeographic.co.uk.goats.html": Page(
        "https://www.nationalgeographic.co.uk/environment-and-conservation/2020/01/ravenous-wild-goats-ruled-island-over-century-now-its-being",
        "Ravenous wild goats ruled this island for over a century. Now, it's being reborn.",
        "Michael Hingston",
        _utc(2020, 1, 3, 9, 48, 24),  # published, not the 6 January update
        contains=("Redonda ground dragon", "## Plans for the future"),
    ),
    "nature.com.telescope.html": Page(
        "https://www.nature.com/articles/d41586-019-02790-3",
        "Gigantic Chinese telescope opens to astronomers worldwide",
        "Elizabeth Gibney",
        _utc(2019, 9, 24),
        contains=("Five-hundred-meter Aperture Spherical Radio Telescope (FAST)",),
    ),
    "phys.org.tool.html": Page(
        "https://phys.org/news/2019-10-flint-flake-tool-partially-birch.html",
        "Flint flake tool partially covered by birch tar adds to evidence of Neanderthal"
        " complex thinking",
        "Bob Yirka",
        _utc(2019, 10, 22, 13, 30, 34),
        contains=("Zandmotor beach near The Hague",),
        absent=("Science X Network", "User comments", "October 22, 2019 report"),
    ),
    "pluralsight.com.python.html": Page(
        "https://www.pluralsight.com/tech-blog/managing-python-environments/",
        "Managing Python Environments",
        "John Walk",
        _utc(2020, 1, 10),
        contains=("### built-in: venv", "- comes stock in with Python"),
        code=(
            "venv/\n|-- bin/\n|   |-- python\n|   |-- pip",
            "|   |   |-- site-packages/\n|   |   |   |-- <pip-installed packages>",
            "$ source $VENV_PATH/bin/activate\n$ deactivate",
            "$ pip freeze > requirements.txt",
        ),
    ),
    "salon.com.emissions.html": Page(
        "https://www.salon.com/2020/01/10/despite-everything-u-s-emissions-dipped-in-2019_partner/",
        "Despite everything, U.S. emissions dipped in 2019",
        "Nathanael Johnson",
        _utc(2020, 1, 10, 9, 0, 4),
        contains=("according to the Rhodium Group",),
        absent=("Shares",),
    ),
    "stackoverflow.com.rust.html": Page(
        "https://stackoverflow.blog/2020/01/20/what-is-rust-and-why-is-it-so-popular/",
        "What is Rust and why is it so popular?",
        "Jake Goulding",
        _utc(2020, 1, 20, 12, 39),
        contains=("fighting the borrow checker", "handle the None case", "## It’s not all roses"),
        absent=("This is the kind of content I love to see",),
    ),
}


@cache
def extracted(name: str) -> Document:
    page = PAGE_FACTS[name]
    return parse_article((PAGES / name).read_text(encoding="utf-8"), page.url)


def test_every_fixture_page_has_facts() -> None:
    assert sorted(PAGE_FACTS) == sorted(p.name for p in PAGES.glob("*.html"))


@pytest.mark.parametrize("name", sorted(PAGE_FACTS))
def test_fixture_page_title_text_and_metadata(name: str) -> None:
    facts, doc = PAGE_FACTS[name], extracted(name)
    assert doc.url == facts.url and doc.source_url == facts.url
    assert doc.platform == "web"
    assert doc.title == facts.title
    assert doc.author == facts.author
    assert doc.published_at == facts.published
    paragraphs = [p for p in doc.text.split("\n\n") if p.strip()]
    assert len(paragraphs) >= facts.min_paragraphs
    assert len(doc.text) >= 300
    for phrase in facts.contains:
        assert phrase in doc.text
    for phrase in facts.absent:
        assert phrase not in doc.text


@pytest.mark.parametrize("name", sorted(PAGE_FACTS))
def test_fixture_page_has_no_boilerplate_or_markup(name: str) -> None:
    text = extracted(name).text
    assert BOILERPLATE.findall(text) == []
    assert "<" + "div" not in text and "&amp;" not in text and "&nbsp;" not in text
    assert "\\_" not in text and "\\*" not in text  # no markdown escaping
    assert "llmtwincodeblock" not in text
    assert not text.startswith("# ")  # the headline is the title, not repeated in the body
    prose = re.sub(r"^```\n.*?\n```$", "(code)", text, flags=re.DOTALL | re.MULTILINE)
    assert "\n\n\n" not in prose  # (code blocks may hold blank lines of their own)


@pytest.mark.parametrize("name", [n for n, p in PAGE_FACTS.items() if p.code])
def test_code_blocks_are_fenced_and_verbatim(name: str) -> None:
    text = extracted(name).text
    fenced = re.findall(r"^```\n(.*?)\n```$", text, flags=re.DOTALL | re.MULTILINE)
    for snippet in PAGE_FACTS[name].code:
        assert any(snippet in block for block in fenced), snippet


def test_wikipedia_math_is_kept_as_tex() -> None:
    text = extracted("en.wikipedia.org.tsne.html").text
    assert "stochastic neighbor embedding" in text.lower()
    assert "Given a set of $N$ high-dimensional objects" in text
    assert "$p_{ij}$" in text


ARTICLE = "".join(
    f"<p>Paragraph {n} of a short essay about writing tests first.</p>" for n in range(8)
)


def _page(body: str, head: str = "<title>An essay</title>") -> str:
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>"


def test_pure_parser_on_a_minimal_page_and_platform_by_host() -> None:
    html = _page(f"<article><h1>An essay</h1>{ARTICLE}</article>")
    doc = parse_article(html, "https://example.com/essay")
    assert doc.title == "An essay" and doc.platform == "web"
    assert doc.text.startswith("Paragraph 0") and doc.text.count("\n\n") == 7
    medium = parse_article(html, "https://medium.com/@ann/an-essay-1a2b3c4d5e6f")
    assert medium.platform == "medium"
    assert parse_article(html, "https://ann.medium.com/an-essay-1a2b").platform == "medium"
    assert parse_article(html, "https://ann.substack.com/p/an-essay").platform == "substack"
    assert parse_article(html, "https://x.test/a", platform="local").platform == "local"


def test_published_time_from_metadata_is_utc() -> None:
    meta = '<meta property="article:published_time" content="2024-03-01T10:00:00+02:00">'
    head = f"<title>An essay</title>{meta}"
    doc = parse_article(_page(f"<article>{ARTICLE}</article>", head), "https://example.com/e")
    assert doc.published_at == datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def test_code_inside_a_list_item_and_code_containing_fences() -> None:
    body = (
        f"<article>{ARTICLE}<ul><li>Run:<pre>make  test\n\tgo</pre></li></ul>"
        "<pre>```\nnested   fence\n```</pre></article>"
    )
    text = parse_article(_page(body), "https://example.com/e").text
    assert "```\nmake  test\n\tgo\n```" in text
    assert "~~~\n```\nnested   fence\n```\n~~~" in text


@pytest.mark.parametrize(
    "body",
    [
        "",
        "<nav><a href='/'>Home</a> <a href='/about'>About</a> <a href='/blog'>Blog</a></nav>",
        "<div id='root'></div><script>window.app = {}</script>",
        "<form><p>Sign in to continue reading.</p><input name='password'></form>",
    ],
)
def test_pages_without_article_text_are_refused(body: str) -> None:
    with pytest.raises(ExtractionError) as info:
        parse_article(_page(body), "https://example.com/wall")
    assert info.value.reason == NO_TEXT
    assert "login wall" in str(info.value)


def test_not_html_at_all_is_refused() -> None:
    with pytest.raises(ExtractionError):
        parse_article("", "https://example.com/empty")


def test_html_to_text_keeps_paragraphs_lists_and_code() -> None:
    html = (
        "<h2>Notes</h2><p>One <em>two</em>\nthree.</p><p>Line<br>break</p>"
        "<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul><ol><li>first</li><li>second</li></ol>"
        "<blockquote><p>Quoted.</p></blockquote><pre><code>x  = 1\n    y</code></pre>"
        "<p>Use <code>snake_case</code> &amp; <b>bold</b>.</p>"
    )
    assert html_to_text(html) == (
        "## Notes\n\nOne two three.\n\nLine\nbreak\n\n- a\n  - b\n- c\n\n1. first\n2. second"
        "\n\n> Quoted.\n\n```\nx  = 1\n    y\n```\n\nUse snake_case & bold."
    )
    assert html_to_text("plain text &amp; no tags") == "plain text & no tags"
    assert html_to_text("   ") == ""


# -- through the network -------------------------------------------------------------


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(FetchPolicy(allowed_networks=("127.0.0.1/32",))) as f:
        yield f


async def test_extract_serves_a_real_page(server: LocalServer, fetcher: Fetcher) -> None:
    url = server.fixture_page("stackoverflow.com.rust.html", "/2020/01/20/rust/")
    [doc] = await ArticleExtractor().extract(url, fetcher)
    assert doc.url == url and doc.title == "What is Rust and why is it so popular?"
    assert "borrow checker" in doc.text and doc.author == "Jake Goulding"


async def test_extract_follows_redirects_and_keeps_the_final_url(
    server: LocalServer, fetcher: Fetcher
) -> None:
    final = server.fixture_page("phys.org.tool.html", "/news/tool.html")

    async def moved(request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently(location="/news/tool.html")

    start = server.route("/old-link", moved)
    [doc] = await ArticleExtractor().extract(start, fetcher)
    assert doc.url == final and "birch tar" in doc.text


async def test_plain_text_and_markdown_are_taken_as_they_are(
    server: LocalServer, fetcher: Fetcher
) -> None:
    body = "# My notes\n\nFirst   paragraph.\n\n```\n  code  stays\n```\n"
    url = server.page("/notes.md", body, content_type="text/markdown")
    [doc] = await ArticleExtractor().extract(url, fetcher)
    assert doc.title == "My notes" and doc.platform == "web"
    assert doc.text == "# My notes\n\nFirst paragraph.\n\n```\n  code  stays\n```"
    txt = server.page("/essay.txt", "Just words.", content_type="text/plain")
    [plain] = await ArticleExtractor().extract(txt, fetcher)
    assert plain.text == "Just words." and plain.title == "Essay"


async def test_a_login_wall_is_an_extraction_error(server: LocalServer, fetcher: Fetcher) -> None:
    url = server.page("/wall", _page("<form><p>Please sign in.</p></form>"))
    with pytest.raises(ExtractionError, match="no article text found"):
        await ArticleExtractor().extract(url, fetcher)


async def test_fetch_errors_propagate(server: LocalServer, fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match="404"):
        await ArticleExtractor().extract(server.url("/missing"), fetcher)


def test_matches_any_http_url_only() -> None:
    extractor = ArticleExtractor()
    assert extractor.matches("https://example.com/a") and extractor.matches("http://x.test/")
    assert not extractor.matches("ftp://example.com/a")
    assert not extractor.matches("file:///tmp/a.html")


def test_pages_are_parsed_one_at_a_time_from_any_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ingest parses pages in worker threads. trafilatura parses with one module-level
    lxml parser, which two threads must never use at once (a CI run crashed with "double
    free or corruption" with two threads in lxml's `document_fromstring`). The real parser
    runs here; it is only watched, to count how many threads are inside it at once."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from ingest.extractors import page as page_module

    inside, most = 0, 0
    count = threading.Lock()
    real_load_html = page_module.load_html  # type: ignore[attr-defined]

    def watched(html: str) -> Any:
        nonlocal inside, most
        with count:
            inside += 1
            most = max(most, inside)
        time.sleep(0.005)  # a window for another thread to come in
        try:
            return real_load_html(html)
        finally:
            with count:
                inside -= 1

    monkeypatch.setattr(page_module, "load_html", watched)
    pages = sorted(PAGES.glob("*.html"))
    url = "https://x.example/"
    alone = {page.name: parse_article(page.read_text(encoding="utf-8"), url) for page in pages}
    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(
            pool.map(
                lambda page: (page.name, parse_article(page.read_text(encoding="utf-8"), url)),
                pages * 3,
            )
        )
    assert most == 1
    assert all(
        replace(document, fetched_at=alone[name].fetched_at) == alone[name]
        for name, document in together
    )
