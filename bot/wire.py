"""The command line's records as JSON, to and from a running bot (bot/web/api_cli.py).

Each record goes over whole and comes back as the same dataclass, so the command prints
it with the same code whether the work ran here or in the bot: the output cannot drift.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # each codec imports its records when used: a search needs no drafts
    from ingest.results import InputResult
    from model.draft import DraftEvent
    from model.records import DraftRecord, SourceRef
    from retrieval.types import SearchFilters, SearchHit

Json = dict[str, Any]


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def filters_json(filters: SearchFilters) -> Json:
    return {
        "platforms": list(filters.platforms),
        "authors": list(filters.authors),
        "published_after": _time(filters.published_after),
        "published_before": _time(filters.published_before),
    }


def filters_from(data: Json) -> SearchFilters:
    from retrieval.types import SearchFilters

    return SearchFilters(
        platforms=tuple(str(p) for p in data.get("platforms") or ()),
        authors=tuple(str(a) for a in data.get("authors") or ()),
        published_after=_parse_time(data.get("published_after")),
        published_before=_parse_time(data.get("published_before")),
    )


def hit_json(hit: SearchHit) -> Json:
    chunk = {
        f.name: getattr(hit.chunk, f.name)
        for f in dataclasses.fields(hit.chunk)
        if f.name != "vector"
    }
    chunk["published_at"] = _time(hit.chunk.published_at)
    return {
        "chunk": chunk,
        "score": hit.score,
        "bm25_score": hit.bm25_score,
        "vector_score": hit.vector_score,
    }


def hit_from(data: Json) -> SearchHit:
    from retrieval.types import Chunk, SearchHit

    chunk = dict(data["chunk"])
    chunk["published_at"] = _parse_time(chunk.get("published_at"))
    return SearchHit(
        chunk=Chunk(**chunk),
        score=float(data["score"]),
        bm25_score=data.get("bm25_score"),
        vector_score=data.get("vector_score"),
    )


def result_json(result: InputResult) -> Json:
    return dataclasses.asdict(result)


def result_from(data: Json) -> InputResult:
    from ingest.results import InputResult

    return InputResult(**data)


def _sources_json(sources: tuple[SourceRef, ...]) -> list[Json]:
    return [dataclasses.asdict(s) for s in sources]


def _sources_from(data: Any) -> tuple[SourceRef, ...]:
    from model.records import SourceRef

    return tuple(SourceRef(**s) for s in data or ())


def record_json(record: DraftRecord) -> Json:
    data = dataclasses.asdict(record)
    data["sources"] = _sources_json(record.sources)
    data["created_at"] = record.created_at.isoformat()
    return data


def record_from(data: Json) -> DraftRecord:
    from model.records import DraftRecord

    fields = dict(data)
    for name in ("links", "chunk_ids", "notes"):
        fields[name] = tuple(fields.get(name) or ())
    fields["sources"] = _sources_from(fields.get("sources"))
    fields["created_at"] = datetime.fromisoformat(fields["created_at"])
    return DraftRecord(**fields)


def draft_event_json(event: DraftEvent) -> Json:
    from model.draft import Prepared
    from model.generator import TextDelta

    if isinstance(event, Prepared):
        return {
            "type": "prepared",
            "draft_id": event.draft_id,
            "sources": _sources_json(event.sources),
            "notes": list(event.notes),
            "prompt_tokens": event.prompt_tokens,
        }
    if isinstance(event, TextDelta):
        return {"type": "delta", "text": event.text}
    return {
        "type": "done",
        "draft": record_json(event.draft),
        "finished": dataclasses.asdict(event.finished),
    }


def draft_event_from(data: Json) -> DraftEvent:
    from model.draft import DraftDone, Prepared
    from model.generator import Finished, TextDelta

    kind = data.get("type")
    if kind == "prepared":
        return Prepared(
            draft_id=str(data["draft_id"]),
            sources=_sources_from(data.get("sources")),
            notes=tuple(data.get("notes") or ()),
            prompt_tokens=int(data["prompt_tokens"]),
        )
    if kind == "delta":
        return TextDelta(str(data["text"]))
    if kind == "done":
        return DraftDone(record_from(data["draft"]), Finished(**data["finished"]))
    raise ValueError(f"unexpected draft event {kind!r}")
