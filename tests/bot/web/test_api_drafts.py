"""The web API's drafting and history against a real `serve` (SQLite warehouse, the real
SmolLM2 drafting): commands reach the command layer as typed, the composer's format
applies to draft prompts only, and the history (ratings, edits) survives a restart."""

from __future__ import annotations

from typing import Any

from model.hf import HfGenerator
from tests.bot.web.api_client import api_of
from tests.http_server import ThreadedServer
from tests.serve_support import running_serve

DEMO = "SmolLM2-135M-Instruct (bundled demo model, GGUF)"


def finals(events: list[Any]) -> list[Any]:
    return [e for e in events if e["type"] == "final"]


async def test_commands_stay_commands_and_the_format_applies_only_to_draft_prompts(
    smol: HfGenerator, threaded_server: ThreadedServer
) -> None:
    page = threaded_server.fixture_page("lemire.me.json.html")
    with running_serve(smol) as srv:
        async with api_of(srv) as api:
            # Typed commands (the words the old page did not know) reach the command layer.
            said = await api.events("POST", "/api/message", {"text": "models"})
            assert not finals(said) and "base: SmolLM2-135M-Instruct" in api.said(said)
            said = await api.events(
                "POST", "/api/message", {"text": "schedules", "format": "thread"}
            )
            assert not finals(said) and "next" in api.said(said)  # the format: for prompts
            # What the page's composer sends: the server's parser reads it; a prompt takes
            # the picked format.
            drafted = await api.events(
                "POST", "/api/message", {"text": "three lessons on queues", "format": "thread"}
            )
            [final] = finals(drafted)
            assert final["format"] == "thread"
            bad = {"text": "hi", "format": "poem"}
            reason = await api.error("POST", "/api/message", bad, status=400)
            assert "format must be one of" in reason
            said = await api.events("POST", "/api/message", {"text": f"  {page}  "})
            assert not finals(said) and api.said(said).startswith(f"✓ {page}: 1 new")

            # The composer: its prompt is a draft prompt whatever it says.
            drafted = await api.events(
                "POST", "/api/draft", {"prompt": "models", "format": "thread"}
            )
            [final] = finals(drafted)
            assert drafted[0]["type"] == "update"
            assert final["format"] == "thread" and final["text"]
            assert final["model"] == DEMO
            item = await api.json("GET", f"/api/drafts/{final['draft_id']}")
            assert item["prompt"] == "models" and item["format"] == "thread"

            # Without a format, the configured one: "thread" in the prompt is not a format.
            drafted = await api.events(
                "POST", "/api/draft", {"prompt": "thread about parsing", "links": [page]}
            )
            [final] = finals(drafted)
            assert final["format"] == "linkedin"
            assert page in [s["url"] for s in final["sources"]]
            item = await api.json("GET", f"/api/drafts/{final['draft_id']}")
            assert item["prompt"].startswith("thread about parsing") and page in item["links"]


async def test_the_history_pages_filters_and_survives_a_restart(smol: HfGenerator) -> None:
    with running_serve(smol) as srv:
        token = srv.token
        async with api_of(srv) as api:
            ids = {}
            for fmt, prompt in (("thread", "why evals matter"), ("answer", "what is SQLite")):
                drafted = await api.events("POST", "/api/draft", {"prompt": prompt, "format": fmt})
                ids[fmt] = finals(drafted)[0]["draft_id"]
            said = await api.events(
                "POST", "/api/feedback", {"draft_id": ids["thread"], "action": "up"}
            )
            assert "Noted" in api.said(said)
            edit = {"draft_id": ids["answer"], "action": "edit", "text": "SQLite is a file."}
            assert "Saved your edit" in api.said(await api.events("POST", "/api/feedback", edit))

    with running_serve(smol) as srv:  # a restart: the history is the database
        assert srv.token == token  # and the open tab's token still works
        async with api_of(srv) as api:
            history = await api.json("GET", "/api/drafts")
            assert history["total"] == 2
            newest, oldest = history["items"]
            assert (newest["id"], oldest["id"]) == (ids["answer"], ids["thread"])
            assert oldest["rating"] == 1 and oldest["edits"] == []
            assert newest["rating"] is None
            assert [e["text"] for e in newest["edits"]] == ["SQLite is a file."]
            assert newest["model"] == DEMO and newest["model_version"] == "base"
            assert newest["prompt"] == "what is SQLite" and newest["output"]

            async def listed(query: str) -> list[str]:
                page = await api.json("GET", f"/api/drafts?{query}")
                return [item["id"] for item in page["items"]]

            assert await listed("format=thread") == [ids["thread"]]
            assert await listed("rating=up") == [ids["thread"]]
            assert await listed("rating=none") == [ids["answer"]]
            assert await listed("rating=down") == []
            assert await listed("q=sqlite") == [ids["answer"]]
            assert await listed("limit=1&offset=1") == [ids["thread"]]
            one = await api.json("GET", f"/api/drafts/{ids['answer']}")
            assert one == newest


async def test_bad_input_on_the_drafting_routes_is_a_clear_json_error(smol: HfGenerator) -> None:
    with running_serve(smol) as srv:
        async with api_of(srv) as api:
            assert await api.error("POST", "/api/message", {"text": 3}, status=400) == (
                "text must be a string, got 3"
            )
            assert await api.error("POST", "/api/message", {}, status=400) == (
                'text is missing; send {"text": "…"}'
            )
            assert "text is empty" in await api.error(
                "POST", "/api/message", {"text": " "}, status=400
            )
            async with api.http.post("/api/message", data=b"[1", headers=api.auth) as r:
                assert r.status == 400 and "JSON object" in (await r.json())["error"]
            reason = await api.error(
                "POST", "/api/draft", {"prompt": "x", "format": "tweet"}, status=400
            )
            assert reason == "format must be one of linkedin, thread, article, answer, got 'tweet'"
            reason = await api.error(
                "POST", "/api/draft", {"prompt": "x", "links": "https://a"}, status=400
            )
            assert reason.startswith("links must be a list of strings")
            reason = await api.error(
                "POST", "/api/draft", {"prompt": "x", "links": ["ftp://a"]}, status=400
            )
            assert "is not a link" in reason
            assert "prompt is empty" in await api.error(
                "POST", "/api/draft", {"prompt": "  "}, status=400
            )
            unknown = {"draft_id": "0" * 32, "action": "up"}
            reason = await api.error("POST", "/api/feedback", unknown, status=404)
            assert reason.startswith(f"draft {'0' * 32}: no such draft")
            assert "action must be one of up, down, regenerate, edit" in await api.error(
                "POST", "/api/feedback", {"draft_id": "x", "action": "love"}, status=400
            )
            assert "text" in await api.error(
                "POST", "/api/feedback", {"draft_id": "x", "action": "edit"}, status=400
            )
            assert "no such draft" in await api.error("GET", f"/api/drafts/{'f' * 32}", status=404)
            for query, reason in (
                ("limit=lots", "limit must be a whole number 0..200"),
                ("offset=-1", "offset must be a whole number"),
                ("rating=meh", "rating must be one of up, down, none"),
                ("format=tweet", "format must be one of"),
            ):
                assert reason in await api.error("GET", f"/api/drafts?{query}", status=400)
            assert await api.json("POST", "/api/cancel", {}) == {"cancelled": False}
