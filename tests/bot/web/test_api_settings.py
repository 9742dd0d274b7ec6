"""The web API's settings against a real `serve`: checked with the config loader's own
rules and messages, all or nothing, saved atomically to $TWIN_HOME/settings.toml, applied
at once (a changed model hot-swapped in), and still there after a restart."""

from __future__ import annotations

import tomllib
from pathlib import Path

from model.hf import HfGenerator, default_model_source
from tests.bot.web.api_client import api_of
from tests.serve_support import running_serve


async def test_settings_are_checked_saved_whole_and_kept_across_a_restart(
    smol: HfGenerator, twin_home: Path
) -> None:
    saved = twin_home / "settings.toml"
    with running_serve(smol) as srv:
        async with api_of(srv) as api:
            settings = await api.json("GET", "/api/settings")
            assert settings["values"]["owner.name"] == "Sam Rivera"
            assert settings["sources"]["owner.name"] == "command line"  # the test's --set
            assert settings["values"]["drafting.format"] == "linkedin"
            assert "model.api_key" not in settings["values"]
            assert settings["file"] == str(saved)
            assert "thread" in settings["choices"]["drafting.format"]

            refusals = [
                ({"drafting.k": -1, "owner.bio": "x"}, "drafting.k", "k must be 0 or more"),
                ({"drafting.voice_examples": "x"}, "drafting.voice_examples", "must be an integer"),
                ({"drafting.top_p": [1]}, "drafting.top_p", "must be a number"),
                ({"owner.name": "Page"}, "owner.name", "set by the command line (--set)"),
                ({"model.api_key": "sk-123"}, "model.api_key", "looks like a secret"),
                ({"web.host": "0.0.0.0"}, "web.host", "cannot be set from the page"),
                ({"model.path": "/no/such/model.gguf"}, "model.path", "does not exist"),
            ]  # fmt: skip
            for values, key, reason in refusals:
                answer = await api.json("PUT", "/api/settings", {"values": values}, status=422)
                assert answer["key"] == key and reason in answer["error"], answer
                assert not saved.exists()  # nothing half-saved
            bodies: list[dict[str, object]] = [{}, {"values": {}}, {"values": ["owner.bio"]}]
            for body in bodies:
                assert "send {" in await api.error("PUT", "/api/settings", body, status=400)
            status = await api.json("GET", "/api/status")
            assert status["owner"]["bio"] == ""

            values = {
                "owner.bio": "I write about evals.",
                "owner.names": ["Sam Rivera", "@sam"],
                "drafting.format": "thread",
            }
            answer = await api.json("PUT", "/api/settings", {"values": values})
            assert answer["saved"] is True and answer["model"] == "unchanged"
            assert answer["message"] == "Saved."
            assert answer["sources"]["owner.bio"] == "settings file"
            assert tomllib.loads(saved.read_text()) == {
                "owner": {"bio": "I write about evals.", "names": ["Sam Rivera", "@sam"]},
                "drafting": {"format": "thread"},
            }
            status = await api.json("GET", "/api/status")
            assert status["owner"]["bio"] == "I write about evals."
            assert status["drafting"]["format"] == "thread"
            # The next draft takes the saved default format at once.
            drafted = await api.events("POST", "/api/draft", {"prompt": "why evals"})
            assert [e["format"] for e in drafted if e["type"] == "final"] == ["thread"]

            # A model change where the model was handed to the process: saved for the
            # next start, and said so.
            bundled = str(default_model_source())
            answer = await api.json("PUT", "/api/settings", {"values": {"model.path": bundled}})
            assert answer["model"] == "restart" and "after a restart" in answer["message"]
            answer = await api.json("PUT", "/api/settings", {"values": {"model.path": None}})
            assert "model" not in tomllib.loads(saved.read_text())

    with running_serve(smol) as srv:
        async with api_of(srv) as api:
            settings = await api.json("GET", "/api/settings")
            assert settings["values"]["owner.bio"] == "I write about evals."
            assert settings["values"]["owner.names"] == ["Sam Rivera", "@sam"]
            assert settings["sources"]["drafting.format"] == "settings file"


async def test_a_saved_model_is_swapped_in_while_serving(smol: HfGenerator) -> None:
    """`serve` that loaded its own model (llama.cpp on the bundled GGUF) swaps to the saved
    one (hf on the same weights) without a restart; a model that cannot load is refused."""
    del smol  # loaded only so the dequantized copy hf needs is in the model cache
    with running_serve(None) as srv:
        async with api_of(srv) as api:
            before = (await api.json("GET", "/api/status"))["model"]
            assert before["backend"] == "llamacpp" and before["demo"] is True
            assert before["name"] == "SmolLM2-135M-Instruct (bundled demo model, GGUF)"

            answer = await api.json("PUT", "/api/settings", {"values": {"model.backend": "hf"}})
            assert answer["model"] == "swapped", answer
            assert answer["message"] == (
                "Saved. New drafts use SmolLM2-135M-Instruct (bundled demo model, GGUF) now."
            )
            after = (await api.json("GET", "/api/status"))["model"]
            assert after["backend"] == "hf" and after["demo"] is True
            drafted = await api.events("POST", "/api/draft", {"prompt": "why evals"})
            [final] = [e for e in drafted if e["type"] == "final"]
            item = await api.json("GET", f"/api/drafts/{final['draft_id']}")
            assert item["backend"] == "hf"

            refused = {"values": {"model.path": "/no/such/model.gguf"}}
            answer = await api.json("PUT", "/api/settings", refused, status=422)
            assert answer["key"] == "model.path"
            assert (await api.json("GET", "/api/status"))["model"]["backend"] == "hf"
            settings = await api.json("GET", "/api/settings")
            assert settings["values"]["model.path"] == ""

            answer = await api.json("PUT", "/api/settings", {"values": {"model.backend": None}})
            assert answer["model"] == "swapped"
            assert (await api.json("GET", "/api/status"))["model"]["backend"] == "llamacpp"
