"""`llm-twin style`: the style profile measured from the owner's writing, as the drafts'
system prompt gets it and with the numbers behind it. Reads the warehouse only (no
embedding model, no index, no torch)."""

from __future__ import annotations

import json

import click

from bot.cli.context import LazyTwin
from core.errors import InputError
from model.style import StyleProfile
from model.style_guidance import MIN_DOCUMENTS
from model.style_stats import Recurring, Spread, StyleStats
from model.style_words import Signature

_NO_NAMES = (
    "set owner.name (or owner.names, your author names and handles) so your own writing "
    "can be told from others'; until then there is no style profile"
)


@click.command("style")
@click.option("--platform", help="Only this platform's profile (e.g. linkedin, x, medium).")
@click.option("--json", "as_json", is_flag=True, help="Print the profile as JSON.")
@click.pass_obj
def style(lazy: LazyTwin, platform: str | None, as_json: bool) -> None:
    """Your style, measured from your own writing: lengths, openings and closings,
    sign-offs, signature words, emoji, hashtags and links; and the guidance drafts get.
    Measured again when your writing changes."""
    with lazy.twin() as twin:
        names = twin.config.owner.author_names
        profile = twin.style_profile()
        platform = platform.strip().lower() if platform else None
        if platform and platform not in profile.platforms and profile.platforms:
            raise InputError(
                f"--platform {platform}",
                "none of your writing is from that platform; yours is from "
                + ", ".join(sorted(profile.platforms)),
            )
    if as_json:
        click.echo(json.dumps(_json(profile, platform), indent=2, ensure_ascii=False))
        return
    if not names:
        click.echo(_NO_NAMES)
        return
    click.echo(_heading(profile))
    sections: list[str | None] = [platform] if platform else [None]
    if not platform and len(profile.platforms) > 1:  # with one, it is all the writing
        sections += list(profile.platforms)
    for name in sections:
        stats = profile.stats(name)
        title = "All your writing" if name is None else name
        click.echo(f"\n{title} ({_count(stats.documents)}):")
        for line in profile.render_guidance(name):
            click.echo(f"  - {line}")
    stats = profile.stats(platform)
    if stats.documents >= MIN_DOCUMENTS:  # too few: nothing is described, not even numbers
        click.echo(f"\nThe numbers ({platform or 'all your writing'}):")
        for line in numbers(stats):
            click.echo(f"  {line}")


def _json(profile: StyleProfile, platform: str | None) -> dict[str, object]:
    if platform is None:
        return profile.to_json()
    return {
        "documents": profile.documents,
        "platform": platform,
        "stats": profile.stats(platform).to_json(),
        "guidance": profile.render_guidance(platform),
    }


def _heading(profile: StyleProfile) -> str:
    parts = ", ".join(f"{name} {s.documents}" for name, s in profile.platforms.items())
    return f"Your style, measured from {_count(profile.documents)} of your own writing" + (
        f" ({parts})" if parts else ""
    )


def numbers(stats: StyleStats) -> list[str]:
    """The measurements behind the guidance, one line each."""
    return [
        f"post length:   {_spread(stats.post_words)}",
        f"sentences:     {_spread(stats.sentence_words)}",
        f"paragraphs:    {_spread(stats.paragraph_words)}",
        f"openings:      one-line hook {stats.opens_hook:.0%}, question "
        f"{stats.opens_question:.0%}, 'I' {stats.opens_i:.0%}",
        f"closings:      question {stats.closes_question:.0%}; sign-offs: "
        f"{_recurring(stats.sign_offs)}",
        f"per post:      emoji {stats.emoji_per_post:.1f}, hashtags "
        f"{stats.hashtags_per_post:.1f}, links {stats.links_per_post:.1f}",
        f"in posts with: emoji {stats.posts_with_emoji:.0%}, hashtags "
        f"{stats.posts_with_hashtags:.0%}, links {stats.posts_with_links:.0%}",
        f"most used:     {_recurring(stats.top_hashtags + stats.top_emoji)}",
        f"first person:  {stats.first_person_rate:.1f} per 100 words",
        f"signature words:   {_signatures(stats.signature_words)}",
        f"signature phrases: {_signatures(stats.signature_phrases)}",
    ]


def _spread(spread: Spread) -> str:
    return (
        f"median {spread.median:.0f} words (10th-90th percentile {spread.p10:.0f}-{spread.p90:.0f})"
    )


def _recurring(items: tuple[Recurring, ...]) -> str:
    return ", ".join(f"{i.text!r} ({i.documents})" for i in items) or "none"


def _signatures(items: tuple[Signature, ...]) -> str:
    return ", ".join(f"{s.text} ({s.documents} docs)" for s in items) or "none yet"


def _count(documents: int) -> str:
    return f"{documents} document{'s' if documents != 1 else ''}"
