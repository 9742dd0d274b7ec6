"""A style profile as a few short, concrete lines: for the system prompt and for people.

Only habits with evidence become lines: a length range needs `MIN_DOCUMENTS` documents; an
opening or closing habit needs `HABIT_SHARE` of them; "no hashtags" (emoji, links) needs
none in any of them; a sign-off, signature word or phrase must recur (`model/style_stats.py`).
With fewer documents there is one line that says so, and nothing is described.
"""

from __future__ import annotations

from model.style_stats import Recurring, Spread, StyleStats

MIN_DOCUMENTS = 5
HABIT_SHARE = 0.4  # an opening or closing done in at least this share of documents
OFTEN = 0.5  # hashtags, emoji, links in at least this share: a habit worth stating
_FIRST_PERSON_HIGH = 2.0  # per 100 words
_FIRST_PERSON_LOW = 0.3
_NAMED = 6  # signature words named in a line


def too_little(documents: int) -> str:
    return (
        f"not enough of your writing to describe your style: {documents} "
        f"document{'s' if documents != 1 else ''}, at least {MIN_DOCUMENTS} are needed "
        "(add more of your own posts)"
    )


def guidance(stats: StyleStats) -> list[str]:
    """The lines for `stats`, or [] when it has fewer than `MIN_DOCUMENTS` documents."""
    n = stats.documents
    if n < MIN_DOCUMENTS:
        return []
    lines = [
        f"length: {_range(stats.post_words)} words",
        f"sentences: about {round(stats.sentence_words.median)} words "
        f"(most {_range(stats.sentence_words)})",
        f"paragraphs: about {round(stats.paragraph_words.median)} words",
    ]
    lines += _openings_and_closings(stats)
    lines += [
        line
        for line in (
            _habit(
                "hashtags",
                stats.posts_with_hashtags,
                stats.hashtags_per_post,
                n,
                stats.top_hashtags,
            ),
            _habit("emoji", stats.posts_with_emoji, stats.emoji_per_post, n, stats.top_emoji),
            _habit("links", stats.posts_with_links, stats.links_per_post, n, ()),
            _first_person(stats.first_person_rate),
        )
        if line
    ]
    if stats.signature_words:
        named = ", ".join(s.text for s in stats.signature_words[:_NAMED])
        lines.append(f"words you use far more than most writers: {named}")
    if stats.signature_phrases:
        habitual = sorted(stats.signature_phrases, key=lambda s: -s.documents)  # stable
        named = ", ".join(f"'{s.text}'" for s in habitual[: _NAMED // 2])
        lines.append(f"phrases you reuse: {named}")
    return lines


def _openings_and_closings(stats: StyleStats) -> list[str]:
    n = stats.documents
    lines: list[str] = []
    if stats.opens_hook >= HABIT_SHARE and stats.opens_question >= HABIT_SHARE:
        lines.append(f"opens with a one-line question ({_of(stats.opens_question, n)})")
    elif stats.opens_hook >= HABIT_SHARE:
        lines.append(f"opens with a one-line hook ({_of(stats.opens_hook, n)})")
    elif stats.opens_question >= HABIT_SHARE:
        lines.append(f"opens with a question ({_of(stats.opens_question, n)})")
    if stats.opens_i >= HABIT_SHARE:
        lines.append(f"often starts with 'I' ({_of(stats.opens_i, n)})")
    if stats.closes_question >= HABIT_SHARE:
        lines.append(f"ends with a question ({_of(stats.closes_question, n)})")
    for sign_off in stats.sign_offs[:2]:
        lines.append(f"signs off with '{sign_off.text}' ({sign_off.documents} of {n})")
    return lines


def _habit(
    name: str, share: float, per_post: float, n: int, examples: tuple[Recurring, ...]
) -> str:
    if share == 0:
        return f"no {name}"
    if share < OFTEN:
        return f"{name} rarely ({_of(share, n)})"
    shown = [e.text for e in examples if e.documents >= 2][:3]
    example = f", e.g. {' '.join(shown)}" if shown else ""
    return f"{name}: about {_number(per_post)} per post{example}"


def _first_person(rate: float) -> str:
    if rate >= _FIRST_PERSON_HIGH:
        return f"writes in the first person ('I', 'my': {rate:.1f} per 100 words)"
    if rate < _FIRST_PERSON_LOW:
        return "rarely says 'I'"
    return ""


def _of(share: float, n: int) -> str:
    return f"{round(share * n)} of {n}"


def _range(spread: Spread) -> str:
    low, high = _round(spread.p10), _round(spread.p90)
    return f"{low}–{high}" if high > low else f"about {_round(spread.median)}"


def _round(value: float) -> int:
    """Lengths as people say them: to 5 under 50, to 10 above."""
    step = 1 if value < 10 else 5 if value < 50 else 10
    return int(round(value / step) * step)


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") or "0"
