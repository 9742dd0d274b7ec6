"""A draft's sources by role where the owner reads them: the chat footer (which the web
page shows as is) and the web page's final event."""

from __future__ import annotations

from bot.chat.replies import DraftFinal
from bot.web.sse import event
from model.records import SourceRef

SOURCES = (
    SourceRef("https://me/evals", "Evals"),
    SourceRef("https://me/post", "My LinkedIn post", "voice"),
    SourceRef("https://news/x", "A shared page"),
)


def final(sources: tuple[SourceRef, ...]) -> DraftFinal:
    return DraftFinal("d1", "Ship it.", "linkedin", sources, ("a note",), "stop")


def test_the_chat_footer_lists_material_then_voice_examples() -> None:
    assert final(SOURCES).footer == (
        "note: a note\n"
        "Sources:\n- Evals <https://me/evals>\n- A shared page <https://news/x>\n"
        "Voice examples:\n- My LinkedIn post <https://me/post>"
    )
    assert "Voice examples" not in final(SOURCES[:1]).footer
    assert final(SOURCES[1:2]).footer.endswith(
        "Voice examples:\n- My LinkedIn post <https://me/post>"
    )
    assert "Sources:" not in final(SOURCES[1:2]).footer


def test_the_web_page_gets_each_sources_role() -> None:
    sent = event(final(SOURCES))
    assert [s["role"] for s in sent["sources"]] == ["material", "voice", "material"]
    assert "Voice examples:\n- My LinkedIn post" in sent["footer"]
