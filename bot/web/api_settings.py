"""Settings: what the page may change (the owner, the model, the drafting knobs), where
each value comes from, and saving them to `$TWIN_HOME/settings.toml`.

A save is all or nothing: the whole config is resolved again with the loader's own rules
(422 naming the key, nothing written); a changed model is loaded before the file is
written (a model that cannot load is refused the same way), then swapped in while drafts
in flight finish on the old one. Owner and drafting settings apply to the next draft.
"""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from bot.config import is_secret_key
from bot.web.bad_input import ApiError, json_object
from bot.web.context import WebContext
from bot.web.settings_file import (
    SettingsRefused,
    page_keys,
    resolve,
    settings_path,
    sources,
    values,
    write,
)
from core import plugins
from core.errors import TwinError
from model.hf import resolve_model_source
from model.naming import model_json
from model.prompts import FORMATS

_MODEL_KEY = re.compile(r"\b(model\.[a-z_]+)\b")


def add_routes(app: web.Application, context: WebContext) -> None:
    api = _Settings(context)
    app.router.add_get("/api/settings", api.get)
    app.router.add_put("/api/settings", api.put)


class _Settings:
    def __init__(self, context: WebContext) -> None:
        self.context = context
        self._saving = asyncio.Lock()

    async def get(self, _: web.Request) -> web.Response:
        config = self.context.config
        return web.json_response(
            {
                "values": values(config),
                "sources": sources(config),
                "keys": list(page_keys()),
                "choices": {
                    "drafting.format": list(FORMATS),
                    "model.backend": ["", *plugins.names(plugins.GENERATORS)],
                },
                "file": str(settings_path(config.home)),
            }
        )

    async def put(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        changes = body.get("values")
        if not isinstance(changes, dict) or not changes:
            raise ApiError(400, 'send {"values": {"owner.name": "…", …}} with the keys to save')
        for key in changes:
            if is_secret_key(str(key)):
                raise ApiError(
                    422,
                    f"{key} looks like a secret; secrets are never saved from the page, they "
                    "come from the environment only",
                    key=str(key),
                )
        async with self._saving:
            outcome = await self._save(changes)
        config = self.context.config
        return web.json_response(
            {
                "saved": True,
                "values": values(config),
                "sources": sources(config),
                "model": outcome,
                "message": await self._said(outcome),
            }
        )

    async def _save(self, changes: dict[str, object]) -> str:
        twin = self.context.twin
        home = twin.config.home
        try:
            resolved = resolve(twin.config, changes)
        except SettingsRefused as exc:
            raise ApiError(422, str(exc), key=exc.key) from exc
        try:
            model = resolved.config.model
            if model != twin.config.model and model.backend not in ("openai", "exl2"):
                # Where the weights are, checked even when the model loads only at the
                # next start (an injected one); a load below checks the rest.
                await asyncio.to_thread(resolve_model_source, model.path, model.gguf_file)
            outcome = await twin.reconfigure(resolved.config, lambda: write(home, resolved.text))
        except TwinError as exc:  # the new model would not load: nothing was saved
            found = _MODEL_KEY.search(str(exc))
            raise ApiError(422, str(exc), key=found.group(1) if found else "model.path") from exc
        writer = self.context.handler.writer
        writer.settings = resolved.config.drafting
        writer.owner = resolved.config.owner
        return outcome

    async def _said(self, outcome: str) -> str:
        twin = self.context.twin
        if outcome == "swapped":
            generator = (await twin.model_worker()).generator
            named = model_json(generator.model_id, generator.backend, generator.model_version)
            return f"Saved. New drafts use {named['name']} now."
        if outcome == "restart":
            return "Saved. The new model drafts after a restart (this process was given its model)."
        if outcome == "run":
            return (
                f"Saved. Run {twin.serving_run} is active and keeps drafting; activate base "
                "(Training & models) to draft with the new model."
            )
        return "Saved."
