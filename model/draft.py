"""The draft writer: prompt + the owner's retrieved writing + shared links -> a draft.

One `write()` call: validate the request, read the links and search the owner's writing
at the same time (optionally with model-expanded queries, fused), pack the material into
the model's context, stream the draft through the model worker, and record it. The
caller sees a `Prepared` event (sources, notes) before the first text, then text deltas,
then `DraftDone` with the stored record, whose output is the finished text shaped for its
platform (`model/shape.py`): it replaces what streamed, and its notes say what was cut.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from core.errors import InputError, TwinError
from ingest.document import Document
from model.filters import infer_filters
from model.generator import Finished, GenerationParams, TextDelta
from model.naming import demo_note_once
from model.packing import Packed, pack_material
from model.prompts import (
    FORMATS,
    DraftFormat,
    Material,
    StyleBrief,
    expansion_messages,
    parse_queries,
)
from model.records import DraftRecord, DraftStore, SourceRef, SourceRole
from model.settings import DraftSettings, OwnerSettings
from model.shape import shape
from model.style import StyleProfile
from model.style_guidance import too_little
from model.voice import FORMAT_PLATFORMS, OwnerWriting, choose_voice
from model.worker import ModelWorker
from retrieval.types import SearchFilters, SearchHit

_URL = re.compile(r"https?://[^\s<>\"')\]]+")


class Retriever(Protocol):
    async def __call__(
        self, queries: Sequence[str], *, k: int, filters: SearchFilters | None
    ) -> list[SearchHit]: ...


class LinkReader(Protocol):
    async def __call__(self, url: str) -> list[Document]: ...


@dataclass(frozen=True)
class DraftRequest:
    prompt: str
    format: str = "linkedin"
    links: tuple[str, ...] = ()
    user: str = "owner"


@dataclass(frozen=True)
class Prepared:
    """Material is chosen; generation starts next. The draft is stored under `draft_id`
    however it ends."""

    draft_id: str
    sources: tuple[SourceRef, ...]
    notes: tuple[str, ...]
    prompt_tokens: int


@dataclass(frozen=True)
class DraftDone:
    draft: DraftRecord
    finished: Finished


DraftEvent = Prepared | TextDelta | DraftDone


class DraftWriter:
    def __init__(
        self,
        worker: ModelWorker,
        retrieve: Retriever,
        read_link: LinkReader,
        store: DraftStore,
        settings: DraftSettings,
        owner: OwnerSettings,
        writing: OwnerWriting | None = None,
        style: Callable[[], Awaitable[StyleProfile]] | None = None,
    ) -> None:
        """`writing`: the owner's documents, for voice examples (`model/voice.py`);
        `style`: their style profile, for the system prompt (`model/style.py`); None:
        drafts go without them (the owner's voice notes are given either way)."""
        self.writing = writing
        self.style = style
        self.worker = worker
        self.retrieve = retrieve
        self.read_link = read_link
        self.store = store
        self.settings = settings
        self.owner = owner

    async def write(self, request: DraftRequest) -> AsyncIterator[DraftEvent]:
        started = time.perf_counter()
        prompt, fmt = validate(request)
        notes: list[str] = []
        links = self._links(request, prompt, notes)
        query = " ".join(_URL.sub(" ", prompt).split())
        timings: dict[str, float] = {}
        params = self.worker.capped(self.settings.params())
        pack = self._packer(prompt, fmt, params)
        pack([], [])  # a prompt too long on its own is refused before any search

        hits, link_material, voice, style = await asyncio.gather(
            self._search(query, request.user, notes, timings),
            self._read_links(links, notes, timings),
            self._voice(query, fmt, notes),
            self._style(fmt, notes),
        )
        packed = pack(link_material, [_writing(h) for h in hits], voice, style=style)
        notes.extend(packed.notes)
        generator = self.worker.generator
        if (demo := demo_note_once(generator.model_id, generator.backend)) is not None:
            notes.append(demo)
        record = self._record(request, prompt, fmt, links, packed, params, notes)
        text: list[str] = []
        finished: Finished | None = None
        ended = "error"
        try:
            yield Prepared(record.id, record.sources, tuple(notes), packed.prompt_tokens)
            async for event in self.worker.stream(request.user, packed.messages, params):
                if isinstance(event, TextDelta):
                    text.append(event.text)
                    yield event
                else:
                    finished = event
        except (asyncio.CancelledError, GeneratorExit):
            ended = "cancelled"
            raise
        finally:
            # Stored however it ended: a cancelled or failed draft is a record too.
            timings["total_s"] = time.perf_counter() - started
            speakers = (self.owner.name, *self.owner.author_names)
            shaping = (self.settings.linkedin_max_chars, speakers)
            record = _ended(record, "".join(text), finished, ended, timings, *shaping)
            self.store.save(record)
        assert finished is not None  # the worker always ends with Finished
        yield DraftDone(record, finished)

    def _links(self, request: DraftRequest, prompt: str, notes: list[str]) -> list[str]:
        """The request's links then those in the prompt, deduplicated, capped at max_links."""
        in_prompt = [url.rstrip(".,;:!?") for url in _URL.findall(prompt)]
        links = list(dict.fromkeys([*request.links, *in_prompt]))
        if len(links) > self.settings.max_links:
            notes.append(
                f"only the first {self.settings.max_links} of {len(links)} links were read "
                "(drafting.max_links)"
            )
            links = links[: self.settings.max_links]
        return links

    def _packer(
        self, prompt: str, fmt: DraftFormat, params: GenerationParams
    ) -> Callable[..., Packed]:
        return functools.partial(
            pack_material,
            self.worker.generator,
            prompt,
            fmt,
            owner=self.owner.name or "the author",
            bio=self.owner.bio,
            reserve=params.max_new_tokens,
            material_tokens=self.settings.context_tokens,
            voice_tokens=self.settings.voice_tokens,
            voice_count=self.settings.voice_examples,
        )

    def _record(
        self,
        request: DraftRequest,
        prompt: str,
        fmt: DraftFormat,
        links: list[str],
        packed: Packed,
        params: GenerationParams,
        notes: list[str],
    ) -> DraftRecord:
        """The draft's record before generation: no output yet, and "error" until it ends."""
        generator = self.worker.generator
        return DraftRecord(
            prompt=prompt,
            format=fmt,
            output="",
            finish_reason="error",
            backend=generator.backend,
            model_id=generator.model_id,
            model_version=generator.model_version,
            user=request.user,
            links=tuple(links),
            chunk_ids=tuple(m.chunk_id for m in packed.kept if m.chunk_id),
            sources=tuple(dict.fromkeys(_source(m) for m in packed.kept if m.url)),
            params=dataclasses.asdict(params),
            notes=tuple(notes),
        )

    async def _search(
        self, query: str, user: str, notes: list[str], timings: dict[str, float]
    ) -> list[SearchHit]:
        if not query or self.settings.k == 0:
            return []
        queries = [query]
        if self.settings.expand_queries:
            t = time.perf_counter()
            try:
                queries += await self._expand(query, user)
            except TwinError as exc:  # the draft goes on with the prompt as the one query
                notes.append(f"query expansion failed ({exc}); searched with the prompt only")
            timings["expansion_ms"] = (time.perf_counter() - t) * 1000
        filters = infer_filters(query) if self.settings.infer_filters else SearchFilters()
        t = time.perf_counter()
        hits = await self.retrieve(
            queries, k=self.settings.k, filters=None if filters.is_empty() else filters
        )
        if not hits and not filters.is_empty():
            notes.append(f"nothing matched {_describe(filters)}; searched all your writing")
            hits = await self.retrieve(queries, k=self.settings.k, filters=None)
        timings["retrieval_ms"] = (time.perf_counter() - t) * 1000
        return hits

    async def _voice(self, query: str, fmt: DraftFormat, notes: list[str]) -> list[Material]:
        if self.writing is None:
            return []
        names = self.owner.author_names
        choice = await choose_voice(
            self.retrieve, self.writing, query, fmt, names=names, settings=self.settings
        )
        notes.extend(choice.notes)
        return choice.examples

    async def _style(self, fmt: DraftFormat, notes: list[str]) -> StyleBrief:
        """The "Your style" block: the profile's guidance for the format's platform (or
        all the owner's writing), the owner's voice notes, LinkedIn's target length."""
        guidance: list[str] = []
        source: str | None = None
        if self.style is not None and self.owner.author_names:
            profile = await self.style()
            source, guidance = profile.prompt_guidance(FORMAT_PLATFORMS[fmt])
            if not guidance:
                notes.append(too_little(profile.documents))
        return StyleBrief(
            tuple(guidance),
            f"{source} writing" if source else "writing",
            tuple(n.strip() for n in self.owner.voice_notes),
            self.settings.linkedin_max_chars,
        )

    async def _expand(self, query: str, user: str) -> list[str]:
        count = self.settings.expand_queries
        params = GenerationParams(max_new_tokens=24 * count, temperature=0.0)
        reply: list[str] = []
        async for event in self.worker.stream(user, expansion_messages(query, count), params):
            if isinstance(event, TextDelta):
                reply.append(event.text)
        return [q for q in parse_queries("".join(reply), count) if q.lower() != query.lower()]

    async def _read_links(
        self, links: list[str], notes: list[str], timings: dict[str, float]
    ) -> list[Material]:
        if not links:
            return []
        t = time.perf_counter()
        results = await asyncio.gather(
            *(self.read_link(url) for url in links), return_exceptions=True
        )
        timings["links_ms"] = (time.perf_counter() - t) * 1000
        material: list[Material] = []
        for url, result in zip(links, results, strict=True):
            if isinstance(result, TwinError):
                notes.append(f"could not read {url} ({result}); the draft was written without it")
            elif isinstance(result, BaseException):
                raise result
            else:
                material += [
                    Material(d.text, d.title, d.url, "link", d.published_at) for d in result
                ]
        return material


def validate(request: DraftRequest) -> tuple[str, DraftFormat]:
    """The request's prompt and format, or the InputError that refuses it (the command
    line asks before it loads a model)."""
    prompt = request.prompt.strip()
    if not prompt:
        raise InputError(
            "prompt", 'is empty; say what to write about, e.g. "why we moved to retrieval"'
        )
    fmt = request.format.strip().lower()
    for known in FORMATS:
        if fmt == known:
            return prompt, known
    raise InputError(f"format {request.format!r}", f"is not one of {', '.join(FORMATS)}")


def _writing(hit: SearchHit) -> Material:
    chunk = hit.chunk
    return Material(
        chunk.text,
        chunk.title,
        chunk.url,
        "writing",
        chunk.published_at,
        chunk_id=chunk.chunk_id,
        document_id=chunk.document_id,
    )


def _source(material: Material) -> SourceRef:
    role: SourceRole = "voice" if material.kind == "voice" else "material"
    return SourceRef(material.url, material.title or material.url, role)


def _ended(
    record: DraftRecord,
    output: str,
    finished: Finished | None,
    ended: str,
    timings: dict[str, float],
    linkedin_max_chars: int,
    speakers: Sequence[str],
) -> DraftRecord:
    """The record as stored: the text, shaped for its platform when the model finished it
    (a cancelled or failed draft keeps what came), how it ended, the model's own timings."""
    notes = record.notes
    if finished is not None:
        timings |= {
            "prompt_tokens": finished.prompt_tokens,
            "completion_tokens": finished.completion_tokens,
            "time_to_first_token_s": finished.time_to_first_token,
            "tokens_per_second": finished.tokens_per_second,
        }
        shaped = shape(
            output,
            record.format,
            finish_reason=finished.finish_reason,
            linkedin_max_chars=linkedin_max_chars,
            speakers=speakers,
        )
        output, notes = shaped.text, (*notes, *shaped.notes)
    reason = finished.finish_reason if finished else ended
    return dataclasses.replace(
        record, output=output.strip(), finish_reason=reason, timings=timings, notes=notes
    )


def _describe(filters: SearchFilters) -> str:
    parts = []
    if filters.platforms:
        parts.append("platform " + "/".join(filters.platforms))
    if filters.published_after:
        parts.append(f"after {filters.published_after:%Y-%m-%d}")
    if filters.published_before:
        parts.append(f"before {filters.published_before:%Y-%m-%d}")
    return ", ".join(parts)
