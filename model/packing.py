"""Fitting material into the model's context.

The prompt itself is never cut. What must fit: the rendered conversation plus the tokens
reserved for the draft, within the model's context length; and the material within its
own budget (`drafting.context_tokens`). Links the owner shared come first and are
shortened to fit; retrieved passages, ranked, are dropped whole from the bottom. When even
the bare prompt does not fit, the request is refused with the numbers.

Voice examples (`model/voice.py`) come last, within their own budget
(`drafting.voice_tokens`) on top of the material's, at most `voice_count` of them, each a
document the material does not already show (a long one is shortened to fit).

The "Your style" block of the system prompt (`StyleBrief`: a dozen short lines at most,
and the owner's own voice notes) is part of the bare prompt. When the bare prompt does not
fit with it, the measured guidance is left out, then the notes, each with a note, before
the request is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from core.errors import InputError
from model.generator import Generator, Message
from model.prompts import DraftFormat, Material, StyleBrief, draft_messages

_MIN_LINK_TOKENS = 64
_Render = Callable[[list[Material]], list[Message]]


@dataclass(frozen=True)
class Packed:
    messages: list[Message]
    kept: list[Material]
    prompt_tokens: int
    notes: list[str]


def pack_material(
    generator: Generator,
    prompt: str,
    fmt: DraftFormat,
    links: Sequence[Material],
    writing: Sequence[Material],
    voice: Sequence[Material] = (),
    *,
    owner: str,
    bio: str,
    reserve: int,
    material_tokens: int,
    voice_tokens: int = 0,
    voice_count: int = 0,
    style: StyleBrief | None = None,
) -> Packed:
    def render_with(brief: StyleBrief) -> _Render:
        def render(material: list[Material]) -> list[Message]:
            return draft_messages(prompt, fmt, material, owner=owner, bio=bio, style=brief)

        return render

    limit = generator.context_length - reserve
    notes: list[str] = []
    render, bare = _fit_style(generator, render_with, style or StyleBrief(), limit, notes)
    if bare > limit:
        raise InputError(
            "prompt",
            f"is too long: with the instructions it takes {bare} tokens, and the model's "
            f"context of {generator.context_length} tokens minus {reserve} kept for the draft "
            f"leaves {limit}; shorten the prompt (or raise model.max_seq_len)",
        )
    budget = min(limit, bare + material_tokens)
    kept: list[Material] = []
    for link in links:
        fitted = _fit(generator, render, kept, link, budget)
        if fitted is None:
            notes.append(f"{link.url} did not fit in the context and was left out")
            continue
        if len(fitted.text) < len(link.text):
            notes.append(f"{link.url} was shortened to fit the context")
        kept.append(fitted)
    dropped = 0
    for passage in writing:
        tokens = generator.count_tokens(render([*kept, passage]))
        if tokens <= budget:
            kept.append(passage)
        else:
            dropped += 1
    if dropped:
        notes.append(f"{dropped} retrieved passage(s) left out to fit the context")
    kept += _pack_voice(generator, render, kept, voice, limit, voice_tokens, voice_count)
    messages = render(kept)
    return Packed(messages, kept, generator.count_tokens(messages), notes)


def _fit_style(
    generator: Generator,
    render_with: Callable[[StyleBrief], _Render],
    style: StyleBrief,
    limit: int,
    notes: list[str],
) -> tuple[_Render, int]:
    """The renderer of the fullest style brief whose bare prompt fits `limit` (the
    measured guidance goes first, then the owner's notes), and that prompt's tokens."""
    lighter = [style, replace(style, guidance=()), replace(style, guidance=(), notes=())]
    for brief in dict.fromkeys(lighter):
        render = render_with(brief)
        bare = generator.count_tokens(render([]))
        if bare <= limit:
            break
        if brief.guidance:
            notes.append("your style guidance was left out to fit the context")
        elif brief.notes:
            notes.append("your voice notes (owner.voice_notes) were left out to fit the context")
    return render, bare


def _pack_voice(
    generator: Generator,
    render: _Render,
    kept: list[Material],
    voice: Sequence[Material],
    limit: int,
    voice_tokens: int,
    voice_count: int,
) -> list[Material]:
    """The voice examples that fit their budget, best first, none of a document (or
    link) the material already shows."""
    if not voice or voice_tokens <= 0 or voice_count <= 0:
        return []
    shown = {m.document_id for m in kept if m.document_id} | {m.url for m in kept if m.url}
    budget = min(limit, generator.count_tokens(render(kept)) + voice_tokens)
    examples: list[Material] = []
    for example in voice:
        if len(examples) == voice_count:
            break
        if example.document_id in shown or example.url in shown:
            continue
        fitted = _fit(generator, render, [*kept, *examples], example, budget)
        if fitted is not None:
            examples.append(fitted)
            shown |= {key for key in (example.document_id, example.url) if key}
    return examples


def _fit(
    generator: Generator,
    render: _Render,
    kept: list[Material],
    link: Material,
    budget: int,
) -> Material | None:
    """The link, cut at a paragraph or sentence end if needed so it fits, or None."""
    tokens = generator.count_tokens(render([*kept, link]))
    if tokens <= budget:
        return link
    base = generator.count_tokens(render(kept))
    room = budget - base
    if room < _MIN_LINK_TOKENS:
        return None
    text = link.text
    for _ in range(8):  # shrink by the measured ratio until it fits
        ratio = room / max(1, tokens - base)
        text = _cut(text, int(len(text) * ratio * 0.95))
        candidate = replace(link, text=text + " […]")
        tokens = generator.count_tokens(render([*kept, candidate]))
        if tokens <= budget:
            return candidate
    return None


def _cut(text: str, chars: int) -> str:
    head = text[: max(0, chars)]
    for mark in ("\n\n", ". ", "\n"):
        at = head.rfind(mark)
        if at > chars // 2:
            return head[: at + 1].rstrip()
    return head.rstrip()
