"""Export members as text: HTML bodies and counted notes (titles for posts that have none
come from `ingest.document.post_title`, which the live LinkedIn reader shares)."""

from __future__ import annotations

import re
from typing import Any

import lxml.etree  # type: ignore[import-untyped]
import lxml.html  # type: ignore[import-untyped]

from ingest.clean import clean_text
from ingest.extractors.html_text import lift_code_blocks, restore_code, tree_blocks

__all__ = ["class_is", "counted", "drop", "element_text", "inline_text", "parse_html"]

_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


def parse_html(html: str) -> Any | None:
    """An HTML document's tree; None when there is nothing to parse."""
    try:
        return lxml.html.document_fromstring(_XML_DECLARATION.sub("", html, count=1))
    except (lxml.etree.ParserError, ValueError):
        return None


def element_text(element: Any) -> str:
    """An element's text with paragraphs, headings, lists and code blocks kept."""
    codes = lift_code_blocks(element)
    return clean_text(restore_code("\n\n".join(tree_blocks(element)), codes))


def inline_text(element: Any | None) -> str:
    """An element's text on one line ("" for None)."""
    return " ".join(element.text_content().split()) if element is not None else ""


def class_is(name: str) -> str:
    """An XPath test for an element having the class `name` among its classes."""
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


def drop(element: Any, xpath: str) -> int:
    """Remove what `xpath` finds under `element` (keeping the text after each); how many."""
    found = [el for el in element.xpath(xpath) if el.getparent() is not None]
    for el in found:
        el.drop_tree()
    return len(found)


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """`1 draft`, `7 drafts`, `2 replies`."""
    return f"{n} {singular if n == 1 else plural or singular + 's'}"
