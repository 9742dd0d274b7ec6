"""The composition root: config in, the twin's parts out, each built from its own section.

`Twin` builds and hands out the parts (warehouse, index, embedder, extractors, the model
worker, the draft writer, the training context); what they do lives in their packages.
Secrets are read from the environment where a part is built, through `bot.config.secret`.

Everything is imported and built lazily, on first use, and at most once: `llm-twin
sources` never imports the fetcher, the model or the index, and a long-running bot never
reloads them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import cached_property
from typing import TYPE_CHECKING

from bot import index_parts
from bot.config import Config, secret
from bot.index_health import IndexHealth
from core.errors import ConfigError

if TYPE_CHECKING:
    from ingest.chunking import Chunker
    from ingest.extractors.base import ExtractorRegistry
    from ingest.pipeline import Ingestor
    from ingest.results import InputResult
    from ingest.warehouse.store import Warehouse
    from model.draft import DraftWriter
    from model.generator import Generator
    from model.records import DraftStore
    from model.settings import ModelSettings
    from model.style import StyleProfile
    from model.worker import ModelWorker
    from retrieval.embedder import SentenceTransformerEmbedder
    from retrieval.index import IndexManifest, VectorIndex
    from retrieval.types import SearchFilters, SearchHit
    from training.context import TrainingContext
    from training.registry import Registry, Run

log = logging.getLogger(__name__)


class Twin:
    """One owner's twin: config in, services out."""

    def __init__(
        self, config: Config, *, generator: Generator | None = None, serve_active: bool = True
    ) -> None:
        """`generator`: a loaded model to draft with instead of `[model]`'s (a host process
        that holds one, or tests). `serve_active`: load the registry's active model."""
        self.config = config
        self._generator = generator
        self._serve_active = serve_active
        self._worker: ModelWorker | None = None
        self._worker_lock = asyncio.Lock()
        self.serving_run: str | None = None  # the registry run now drafting, None: base
        self._followed: str | None = None  # the active run as last read from the registry
        self._retiring: set[asyncio.Task[None]] = set()
        self._index: VectorIndex | None = None
        self.health = IndexHealth(self)  # the index checked against the warehouse

    @cached_property
    def warehouse(self) -> Warehouse:
        from ingest.warehouse.store import Warehouse

        return Warehouse(self.config.warehouse_url, lock_timeout=self.config.warehouse.lock_timeout)

    @cached_property
    def embedder(self) -> SentenceTransformerEmbedder:
        return index_parts.embedder(self.config)

    @cached_property
    def chunker(self) -> Chunker:
        return index_parts.chunker(self.config, self.embedder)

    @cached_property
    def registry(self) -> ExtractorRegistry:
        from ingest.extractors.registry import SourceSettings, build_registry

        config = self.config
        return build_registry(
            SourceSettings(
                policy=config.ingest,
                github=config.github,
                linkedin=config.linkedin,
                state_dir=config.home,
                secret=secret,
                env=os.environ,
            )
        )

    def manifest(self) -> IndexManifest:
        return index_parts.manifest(self.config, self.embedder)

    def _open_index(self, *, reset: bool = False) -> VectorIndex:
        return index_parts.open_index(self.config, self.embedder, reset=reset)

    @property
    def index(self) -> VectorIndex:
        """The index, opened on first use (`reindex` replaces it with a rebuilt one)."""
        if self._index is None:
            self._index = self.health.opened(self._open_index())
        return self._index

    @asynccontextmanager
    async def ingestor(self) -> AsyncIterator[Ingestor]:
        """An `Ingestor` with an open fetcher; the fetcher closes when the block ends."""
        from ingest.fetcher import Fetcher
        from ingest.paths import path_crawler
        from ingest.pipeline import Ingestor

        # Build the heavy parts off the loop: the first touch loads the embedding model.
        index = await asyncio.to_thread(lambda: self.index)
        chunker = await asyncio.to_thread(lambda: self.chunker)
        async with Fetcher(self.config.ingest) as fetcher:
            yield Ingestor(
                warehouse=self.warehouse,
                index=index,
                embedder=self.embedder,
                chunker=chunker,
                registry=self.registry,
                fetcher=fetcher,
                concurrency=self.config.ingest.concurrency,
                batch_chunks=self.config.index.write_batch_chunks,
                path_crawler=path_crawler(self.config.exports),
            )

    async def search(
        self,
        query: str,
        *,
        k: int | None = None,
        alpha: float | None = None,
        filters: SearchFilters | None = None,
    ) -> list[SearchHit]:
        from retrieval.search import hybrid_search

        index = await asyncio.to_thread(lambda: self.index)
        hits = await hybrid_search(
            index,
            self.embedder,
            query,
            k=self.config.search.k if k is None else k,
            alpha=self.config.search.alpha if alpha is None else alpha,
            filters=filters,
        )
        return await asyncio.to_thread(index_parts.stored_only, hits, self.warehouse)

    async def reindex(self, on_document: Callable[[], None] | None = None) -> InputResult:
        """Rebuild the index from the warehouse (the source of truth) with the current
        embedding model and chunk settings. Works for a mismatched or missing index."""
        index = await asyncio.to_thread(self.health.starting_over, self._open_index)
        self._index = index
        documents = (stored.document for stored in self.warehouse.iter_documents())
        async with self.ingestor() as ingestor:
            return await ingestor.reindex(documents, on_document=on_document)

    def forget(self, url: str) -> list[str]:
        """Remove a source or a document from the warehouse alone (the CLI without a bot):
        searches skip its chunks, the index's next open drops them (bot/index_health.py)."""
        return self.warehouse.forget(url)

    # --- drafting ---------------------------------------------------------------------

    @cached_property
    def models(self) -> Registry:
        """Training runs and the active model (the model registry)."""
        from training.registry import Registry

        return Registry(self.warehouse)

    async def model_worker(self) -> ModelWorker:
        """The one model worker, loading the model on the first call (call it at start-up
        so a missing model fails there, not on the first draft). The registry's active
        run, when there is one, is served instead of `[model]`'s adapter."""
        async with self._worker_lock:
            if self._worker is None:
                cfg = self.config.model
                generator = self._generator
                if generator is None:
                    active = None
                    if self._serve_active:
                        active = await asyncio.to_thread(self.models.active)
                    self._followed = active.id if active else None
                    generator = await self._open_model(active)
                from model.worker import ModelWorker

                self._worker = ModelWorker(
                    generator,
                    timeout=cfg.timeout,
                    max_new_tokens=cfg.max_new_tokens,
                    slots=cfg.slots,
                )
            return self._worker

    async def _open_model(self, run: Run | None) -> Generator:
        generator = await self._open_run(run) if run is not None else None
        if generator is None:
            self.serving_run = None
            generator = await self._open_generator(self.config.model)
        return generator

    async def _open_generator(self, settings: ModelSettings) -> Generator:
        from model.backends import open_generator

        return await open_generator(
            settings,
            cache_dir=self.config.model_cache_dir,
            api_key=secret("model", "api_key"),
        )

    async def _open_run(self, run: Run) -> Generator | None:
        """`run`'s model, or None (with a warning) when this backend cannot serve it."""
        from model.backends import with_backend
        from training.gguf_export import servable_on_llamacpp

        try:
            model = with_backend(self.config.model)
            if model.backend == "llamacpp":
                run = await asyncio.to_thread(servable_on_llamacpp, self.models, run)
            generator = await self._open_generator(run.model_settings(model))
        except ConfigError as exc:
            log.warning("the active model %s cannot be served here: %s", run.id, exc)
            return None
        self.serving_run = run.id
        return generator

    async def follow_active_model(self) -> bool:
        """If another process activated a model since the last look, load it and swap it
        in: new drafts use it at once, drafts in flight finish on the old model, which is
        closed when they have. True when a swap happened."""
        worker = await self.model_worker()
        if self._generator is not None or not self._serve_active:
            return False  # an injected model belongs to its owner
        active = await asyncio.to_thread(self.models.active)
        wanted = active.id if active else None
        if wanted == self._followed:
            return False
        self._followed = wanted
        before = self.serving_run
        if wanted == before:
            return False
        if active is None:
            generator = await self._open_model(None)
        else:
            maybe = await self._open_run(active)
            if maybe is None:
                return False  # warned; the current model keeps serving
            generator = maybe
        old = worker.swap(generator)
        log.warning("now drafting with %s (was %s)", wanted or "the base model", before or "base")
        task = asyncio.create_task(self._retire(worker, old))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
        return True

    async def reconfigure(self, config: Config, save: Callable[[], object]) -> str:
        """Adopt `config` (settings saved from the web page; same home and stores): owner
        and drafting settings apply to the next draft. A changed `[model]` is loaded
        before anything changes (its ConfigError leaves all as it was), then `save()`
        runs, then the new model is swapped in like a newly activated run. What became of
        the model: "unchanged", "swapped", "next" (none is loaded yet: the first load
        uses it), "restart" (an injected model: the next start loads it) or "run" (an
        activated run keeps drafting)."""
        kept = self._model_kept(config)
        if kept:
            save()
            self.config = config
            return kept
        worker = await self.model_worker()
        generator = await self._open_generator(config.model)
        try:
            save()
        except BaseException:
            await generator.aclose()
            raise
        self.config = config
        old = worker.swap(generator)
        log.warning("now drafting with %s (the saved [model])", generator.model_id)
        task = asyncio.create_task(self._retire(worker, old))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
        return "swapped"

    def _model_kept(self, config: Config) -> str:
        """Why `config`'s [model] needs no swap now ("": it does)."""
        if config.model == self.config.model:
            return "unchanged"
        if self._generator is not None or not self._serve_active:
            return "restart"
        if self._worker is None:
            return "next"
        return "run" if self.serving_run is not None else ""

    @staticmethod
    async def _retire(worker: ModelWorker, old: Generator) -> None:
        await worker.drained(old)
        await old.aclose()

    @cached_property
    def drafts(self) -> DraftStore:
        from model.records import DraftStore

        return DraftStore(self.warehouse)

    @asynccontextmanager
    async def draft_writer(self) -> AsyncIterator[DraftWriter]:
        """A `DraftWriter` over the loaded model, the index, the owner's writing in the
        warehouse (for voice examples) and an open fetcher (for links in prompts); with
        drafting.ingest_links, shared links are also ingested."""
        from model.draft import DraftWriter
        from model.voice import warehouse_writing
        from retrieval.search import multi_query_search

        worker = await self.model_worker()
        index = await asyncio.to_thread(lambda: self.index)
        drafts = await asyncio.to_thread(lambda: self.drafts)

        async def retrieve(
            queries: Sequence[str], *, k: int, filters: SearchFilters | None
        ) -> list[SearchHit]:
            hits = await multi_query_search(
                index, self.embedder, queries, k=k, alpha=self.config.search.alpha, filters=filters
            )
            return await asyncio.to_thread(index_parts.stored_only, hits, self.warehouse)

        async with self.ingestor() as ingestor:
            read_link = functools.partial(
                ingestor.read_link, keep=self.config.drafting.ingest_links
            )
            yield DraftWriter(
                worker,
                retrieve,
                read_link,
                drafts,
                self.config.drafting,
                self.config.owner,
                writing=warehouse_writing(self.warehouse),
                style=lambda: asyncio.to_thread(self.style_profile),
            )

    def style_profile(self) -> StyleProfile:
        """The owner's style profile, measured from their own writing in the warehouse
        (no model, no index); cached in $TWIN_HOME/style until their writing changes."""
        from model.style_store import owner_style

        return owner_style(
            self.warehouse, self.config.owner.author_names, self.config.home / "style"
        )

    def training_context(self) -> TrainingContext:
        """What training works with (opens the stores): this twin's settings, folders,
        stores, model, and the command line of `llm-twin train` for its home and config."""
        from training.context import TrainingContext

        config = self.config
        trainer = [sys.executable, "-m", "bot", "--home", str(config.home.resolve())]
        if config.config_file is not None:
            trainer += ["--config", str(config.config_file.resolve())]
        return TrainingContext(
            settings=config.training,
            model=config.model,
            owner=config.owner,
            home=config.home,
            model_cache=config.model_cache_dir,
            registry=self.models,
            warehouse=self.warehouse,
            drafts=self.drafts,
            embedder=self.embedder,
            model_worker=self.model_worker,
            release_model=self.release_model,
            follow_active_model=self.follow_active_model,
            trainer=(*trainer, "train"),
        )

    async def release_model(self) -> None:
        """Unload the model (the next `model_worker()` loads it again)."""
        for task in list(self._retiring):
            await task
        if self._worker is not None:
            if self._generator is None:  # an injected model belongs to its owner
                await self._worker.generator.aclose()
            self._worker = None
            self._worker_lock = asyncio.Lock()  # the next load may run on another loop

    async def aclose(self) -> None:
        await self.release_model()
        self.close()

    def close(self) -> None:
        self.health.wait()  # a mend under way finishes (`serve` stops it first)
        if "warehouse" in self.__dict__:
            self.warehouse.close()
