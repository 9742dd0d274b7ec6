"""Nothing from the web or from a model runs in the page: a stored draft and a collected
page's title holding <script>, <img onerror=…> and javascript: links are shown as text in
Chromium (History, a draft opened whole, Sources), links are http(s) only with
rel="noopener noreferrer", and the page is sent with a strict Content-Security-Policy."""

from __future__ import annotations

import random
import urllib.request
from typing import Any

import pytest

from bot.config import load_config
from bot.twin import Twin
from model.hf import HfGenerator
from model.records import DraftRecord, SourceRef
from tests.e2e.web_support import console_errors, css, find, find_all, go, screenshot, wait
from tests.http_server import ThreadedServer
from tests.serve_support import running_serve

pytestmark = pytest.mark.slow

ATTACKS = (
    "<script>window.pwned = 'script'</script>",
    "<img src=x onerror=\"window.pwned = 'img'\">",
    "<svg onload=\"window.pwned = 'svg'\"></svg>",
    "[click me](javascript:window.pwned='link')",
    "<javascript:window.pwned='autolink'>",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<a href="javascript:window.pwned=1">a tag</a>',
)
DRAFT = "\n\n".join(
    [
        "# Heading <script>window.pwned = 'heading'</script>",
        *ATTACKS,
        "- a list item <img src=x onerror=\"window.pwned = 'li'\">",
        "```\n<script>window.pwned = 'code'</script>\n```",
        "A **real** link: [example](https://example.com/post) and https://example.org/x.",
    ]
)
TITLE = "Hello <script>window.pwned='title'</script><img src=x onerror=window.pwned='t'>"
SENTENCES = (
    "Parsers read text and build structures from it, one token at a time.",
    "A good parser says where the input went wrong, and what it expected there.",
    "Streaming parsers hold little in memory, so they suit logs and long feeds.",
    "Benchmarks of JSON parsers differ mostly in how they treat numbers and strings.",
    "Validating the input once, at the edge, keeps the rest of the program simple.",
    "Error recovery is where hand-written parsers still beat the generated ones.",
)
EVIL_PAGE = f"""<!doctype html><html><head><title>{TITLE.replace("<", "&lt;")}</title></head>
<body><article><h1>{TITLE.replace("<", "&lt;")}</h1>
{"".join(f"<p>{s} {t}</p>" for s in SENTENCES for t in SENTENCES[:3])}
</article></body></html>"""

# The renderer itself, over the attacks and over random Markdown-ish text (it must finish,
# and make no element but its own few, with http(s) links only).
RENDER_ALL = """
const [texts, done] = [arguments[0], arguments[arguments.length - 1]];
import('/static/markdown.js').then((m) => {
  const allowed = new Set(['P', 'BR', 'H3', 'H4', 'H5', 'H6', 'UL', 'OL', 'LI', 'BLOCKQUOTE', 'PRE',
                           'CODE', 'STRONG', 'EM', 'A', 'SPAN', 'HR']);
  const attributes = new Set(['href', 'target', 'rel', 'class', 'title', 'start']);
  const bad = [];
  for (const text of texts) {
    const box = document.createElement('div');
    box.append(m.renderMarkdown(text));
    for (const el of box.querySelectorAll('*')) {
      if (!allowed.has(el.tagName)) bad.push([text, el.tagName]);
      for (const a of el.attributes) {
        if (!attributes.has(a.name)) bad.push([text, a.name]);
      }
      if (el.tagName === 'A' && !/^https?:/.test(el.href)) bad.push([text, el.href]);
    }
  }
  done({bad, pwned: window.pwned === undefined ? null : String(window.pwned)});
});
"""
PIECES = (
    "**",
    "*",
    "_",
    "__",
    "`",
    "```",
    "[",
    "]",
    "(",
    ")",
    "<",
    ">",
    "# ",
    "- ",
    "1. ",
    "> ",
    "\n",
    "\n\n",
    "http://a.b/c",
    "javascript:x",
    "word",
    " ",
    "---",
    "<script>",
    "onerror=",
)


# Whatever the page made of it: nothing may run, nothing may be markup, links only http(s).
INSPECT = """
const root = document.getElementById('pages');
const bad = [];
for (const el of root.querySelectorAll('*')) {
  if (['SCRIPT', 'IFRAME', 'OBJECT', 'EMBED'].includes(el.tagName)) bad.push(el.tagName);
  if (el.tagName === 'IMG') bad.push('IMG');
  const shown = el.closest('[data-testid="draft-body"], [data-testid="source-title"]');
  if (shown && el.tagName === 'svg') bad.push('SVG');
  for (const a of el.attributes) if (a.name.startsWith('on')) bad.push(el.tagName + ' ' + a.name);
}
const links = [...root.querySelectorAll('a[href]')].map(a => [a.href, a.rel, a.target]);
return {bad, links, pwned: window.pwned === undefined ? null : String(window.pwned)};
"""


def inspect(browser: Any) -> dict[str, Any]:
    found: dict[str, Any] = browser.execute_script(INSPECT)
    return found


def assert_nothing_ran(browser: Any, origin: str) -> None:
    seen = inspect(browser)
    assert seen["pwned"] is None and seen["bad"] == [], seen
    for href, rel, target in seen["links"]:
        internal = href.startswith(f"{origin}/#")
        assert internal or href.startswith(("https://", "http://")), href
        if target == "_blank":
            assert rel == "noopener noreferrer", href
    assert console_errors(browser) == []  # no CSP violation: nothing even tried


def test_drafts_and_titles_holding_markup_are_shown_as_text_and_nothing_runs(
    browser: Any, smol: HfGenerator, threaded_server: ThreadedServer
) -> None:
    evil = threaded_server.page("/evil.html", EVIL_PAGE)
    twin = Twin(load_config())
    try:
        record = DraftRecord(
            prompt=f"Write about {ATTACKS[1]}",
            format="linkedin",
            output=DRAFT,
            finish_reason="stop",
            backend="hf",
            model_id="<img src=x onerror=window.pwned='model'>",
            model_version="base",
            sources=(
                SourceRef(url="javascript:window.pwned='source'", title=TITLE),
                SourceRef(url="https://example.com/voice", title=ATTACKS[0], role="voice"),
            ),
            notes=(ATTACKS[2],),
        )
        twin.drafts.save(record)
    finally:
        twin.close()

    with running_serve(smol) as srv:
        headers = urllib.request.urlopen(f"{srv.base}/").headers
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy and headers["X-Content-Type-Options"] == "nosniff"

        browser.get(srv.page)
        go(browser, "#/history")
        [item] = wait(browser, lambda _: find_all(browser, "history-item"))
        assert ATTACKS[1] in item.text  # the prompt, as text
        assert_nothing_ran(browser, srv.base)

        item.click()
        draft = find(browser, "draft")
        body = find(draft, "draft-body").text
        for attack in ("<script>window.pwned = 'script'</script>", ATTACKS[1], ATTACKS[2]):
            assert attack in body  # visible, as the characters they are
        refused = [e.text for e in css(browser, '[data-testid="draft-body"] .link-refused')]
        assert "click me" in refused and "data" in refused
        for element in css(browser, '[data-testid="draft-body"] .link-refused'):
            element.click()  # a javascript: "link" is inert text
        links = {
            a.text: a.get_attribute("href")
            for a in draft.find_elements("css selector", '[data-testid="draft-body"] a')
        }
        assert links == {
            "example": "https://example.com/post",
            "https://example.org/x": "https://example.org/x",
        }
        assert TITLE in find(draft, "draft-sources").text
        assert "<img" in find(draft, "draft-meta").text
        screenshot(browser, "xss-draft")
        assert_nothing_ran(browser, srv.base)

        go(browser, "#/sources")
        find(browser, "source-url").send_keys(evil)
        find(browser, "add-source").click()
        row = wait(browser, lambda _: [r for r in find_all(browser, "source") if "Hello" in r.text])
        assert TITLE in find(row[0], "source-title").text
        assert_nothing_ran(browser, srv.base)

        noise = random.Random(18)
        texts = [*ATTACKS, DRAFT, TITLE]
        texts += ["".join(noise.choice(PIECES) for _ in range(40)) for _ in range(300)]
        browser.set_script_timeout(60)
        rendered = browser.execute_async_script(RENDER_ALL, texts)
        assert rendered == {"bad": [], "pwned": None}
