"""HTML to text with paragraphs, headings, lists and code kept.

Works on plain HTML (feed content) and on trafilatura's content tree (`head`, `list`/`item`,
`quote`, `lb`) alike. Blocks are separated by a blank line, headings become `#` lines and
list items `-`/`1.` lines, without trafilatura's markdown escaping (`\\_`, `\\*`). `<pre>`
blocks are lifted out first (trafilatura collapses their whitespace) and restored as
fenced blocks, verbatim.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import lxml.html  # type: ignore[import-untyped]

from ingest.clean import clean_text

__all__ = ["html_to_text", "inline_math", "lift_code_blocks", "restore_code", "tree_blocks"]

_TOKEN = "llmtwincodeblock{}x"  # plain letters and digits: survive extraction untouched
# A placeholder, with the list or quote marker it may have ended up behind.
_TOKEN_RE = re.compile(r"(?:^[ \t]*(?:[-*>]|\d+[.)])?)?[ \t]*llmtwincodeblock(\d+)x[ \t]*", re.M)
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_BLOCK_TAGS = frozenset(
    {"p", "head", "list", "ul", "ol", "dl", "quote", "blockquote", "table", "pre", "code"}
    | {"div", "section", "article", "main", "body", "header", "footer", "aside", "figure"}
    | {"figcaption", "hr", "dd", "dt", "details", "summary", "center", "form", "fieldset"}
    | set(_HEADINGS)
)
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "graphic", "img", "svg"})
_ITEM_TAGS = frozenset({"item", "li", "dt", "dd"})
_LIST_TAGS = frozenset({"list", "ul", "ol", "dl"})


def html_to_text(fragment: str) -> str:
    """A piece of HTML (feed content) as clean text with its paragraphs and code kept."""
    if not fragment.strip():
        return ""
    if "<" not in fragment:  # text, maybe with entities (feeds often escape twice)
        return clean_text(html.unescape(fragment))
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return clean_text(fragment)
    codes = lift_code_blocks(root)
    return clean_text(restore_code("\n\n".join(tree_blocks(root)), codes))


def inline_math(tree: lxml.etree._Element) -> None:
    """MathML as its TeX source, `$...$`; otherwise formulas vanish from the text (their
    wrappers are often display:none, beside an image fallback)."""
    for math in list(tree.iter("math")):
        tex = math.get("alttext") or "".join(math.xpath(".//annotation//text()"))
        tex = re.sub(r"^\{\\displaystyle\s*(.*)\}$", r"\1", " ".join(tex.split()))
        span = lxml.html.Element("span")
        span.text = f"${tex}$" if tex else ""
        span.tail = math.tail
        parent = math.getparent()
        if parent is None:
            continue
        parent.replace(math, span)
        for ancestor in span.iterancestors("span"):
            ancestor.attrib.pop("style", None)


def lift_code_blocks(root: lxml.etree._Element) -> list[str]:
    """Swap each `<pre>` for a placeholder paragraph; returns their verbatim texts."""
    codes: list[str] = []
    for pre in list(root.iter("pre")):
        if any(a.tag == "pre" for a in pre.iterancestors()):
            continue
        code = "".join(pre.itertext()).strip("\n").rstrip()
        placeholder = lxml.html.Element("p")
        placeholder.text = _TOKEN.format(len(codes))
        placeholder.tail = pre.tail
        codes.append(code)
        parent = pre.getparent()
        if parent is not None:
            parent.replace(pre, placeholder)
    return codes


def restore_code(text: str, codes: list[str]) -> str:
    def fenced(match: re.Match[str]) -> str:
        code = codes[int(match.group(1))]
        fence = "~~~" if "```" in code else "```"
        return f"\n\n{fence}\n{code}\n{fence}\n\n" if code.strip() else ""

    return _TOKEN_RE.sub(fenced, text)


def _blocks(el: lxml.etree._Element, depth: int = 0) -> Iterator[str]:
    """Text blocks of a content tree: trafilatura's own tags (head, list/item, quote, lb)
    and plain HTML (h1-h6, ul/li, blockquote, br) alike."""
    inline: list[str] = [_spaces(el.text)]
    for child in el:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag in _SKIP_TAGS or not tag:
            inline.append(_spaces(child.tail))
            continue
        if tag not in _BLOCK_TAGS or (tag == "code" and "\n" not in "".join(child.itertext())):
            inline.append(_inline(child))
            inline.append(_spaces(child.tail))
            continue
        yield from _paragraph(inline)
        inline = [_spaces(child.tail)]
        yield from _block(child, tag, depth)
    yield from _paragraph(inline)


def _block(el: lxml.etree._Element, tag: str, depth: int) -> Iterator[str]:
    if tag in _HEADINGS or tag == "head":
        level = _HEADINGS.get(tag) or _HEADINGS.get(el.get("rend") or "", 2)
        text = _inline(el).strip()
        if text:
            yield f"{'#' * level} {text}"
    elif tag in _LIST_TAGS:
        yield "\n".join(_list_lines(el, depth))
    elif tag in ("quote", "blockquote"):
        inner = "\n\n".join(_blocks(el, depth))
        if inner.strip():
            yield "\n".join(f"> {line}" if line.strip() else ">" for line in inner.split("\n"))
    elif tag == "table":
        rows = [" | ".join(_inline(cell).strip() for cell in row) for row in el.iter("row", "tr")]
        yield "\n".join(row for row in rows if row.strip(" |"))
    elif tag in ("code", "pre"):  # block-level code that trafilatura found itself
        code = "".join(el.itertext()).strip("\n").rstrip()
        if code.strip():
            yield f"```\n{code}\n```"
    elif tag == "p":
        yield from _paragraph([_inline(el)])
    else:  # a container: div, section, body...
        yield from _blocks(el, depth)


def _list_lines(el: lxml.etree._Element, depth: int) -> Iterator[str]:
    ordered = el.tag == "ol" or el.get("rend") == "ol"
    for number, item in enumerate((c for c in el if c.tag in _ITEM_TAGS), start=1):
        nested = [c for c in item if c.tag in _LIST_TAGS]
        for sub in nested:  # the tree is ours to change; each list is read once
            _detach(sub)
        marker = f"{number}." if ordered else "-"
        text = " ".join(_inline(item).split())
        if text:
            yield f"{'  ' * depth}{marker} {text}"
        for sub in nested:
            yield from _list_lines(sub, depth + 1)


def _detach(el: lxml.etree._Element) -> None:
    """Remove an element but keep the text that follows it (lxml moves the tail along)."""
    parent, previous = el.getparent(), el.getprevious()
    if el.tail:
        if previous is not None:
            previous.tail = f"{previous.tail or ''} {el.tail}"
        else:
            parent.text = f"{parent.text or ''} {el.tail}"
    parent.remove(el)


def _inline(el: lxml.etree._Element) -> str:
    """Running text; source newlines are just spaces, only <br>/<lb> break a line."""
    parts: list[str] = [_spaces(el.text)]
    for child in el:
        if child.tag in ("lb", "br"):
            parts.append("\n")
        elif child.tag not in _SKIP_TAGS and isinstance(child.tag, str):
            parts.append(_inline(child))
        parts.append(_spaces(child.tail))
    return "".join(parts)


def _spaces(text: str | None) -> str:
    return re.sub(r"\s+", " ", text) if text else ""


def _paragraph(parts: list[str]) -> Iterator[str]:
    lines = (" ".join(line.split()) for line in "".join(parts).split("\n"))
    text = "\n".join(line for line in lines if line)
    if text:
        yield text


def tree_blocks(root: lxml.etree._Element) -> list[str]:
    """The text blocks (paragraphs, headings, lists...) of a content tree, in order."""
    return list(_blocks(root))
