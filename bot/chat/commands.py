"""Turning a chat message into a platform-neutral `Command`.

Every adapter hands over plain text (Telegram's `/draft@twinbot thread ...`, Slack's
`/twin draft thread ...` with the `/twin` already stripped, the web page's input box) and
gets the same `Command` back:

- a known command word, with or without a leading slash: that command;
- a message that is only links (a few words around them at most): a link-drop, ingested;
- anything else: a draft prompt in the default format (links in it become material).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from model.prompts import FORMATS

CommandName = Literal[
    "draft", "ingest", "sources", "forget", "search", "status", "cancel", "help", "unknown"
]
COMMANDS: tuple[CommandName, ...] = (
    "draft",
    "ingest",
    "sources",
    "forget",
    "search",
    "status",
    "cancel",
    "help",
)
_ALIASES: dict[str, CommandName] = {"start": "help", "add": "ingest", "remove": "forget"}
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'|]+", re.IGNORECASE)
# A link-drop may carry a short remark ("great read: <url>"); more words make it a prompt.
_LINK_DROP_MAX_WORDS = 4

HELP = """\
Send me a prompt and I draft it in your voice, from your own writing.
Drop links and I add them to your writing.

draft [linkedin|thread|article|answer] <prompt>  a draft (plain messages are drafts too)
ingest <url> [<url>...]                           add links (or just paste them)
search <query>                                    search your writing
sources                                           what I have collected
forget <url>                                      remove a source and its documents
status                                            documents, chunks, model, queue
cancel                                            stop the draft in progress
help                                              this text

On a draft: 👍 / 👎 rate it, 🔁 writes another, ✏️ (or a reply with your own version)
stores your edit."""


@dataclass(frozen=True, slots=True)
class Command:
    name: CommandName
    text: str = ""  # the argument text (prompt, query, url), stripped
    urls: tuple[str, ...] = ()
    format: str | None = None  # draft only: an explicit format word
    word: str = ""  # unknown only: the word that was not understood


def parse(message: str) -> Command:
    text = message.strip()
    first, _, rest = text.partition(" ")
    word = first.lower()
    slashed = word.startswith("/")
    word = word.lstrip("/").split("@", 1)[0]  # Telegram: /draft@twin_bot
    name = _ALIASES.get(word, word)
    if name in COMMANDS:
        return _command(name, rest.strip())
    if slashed:
        return Command("unknown", text, word=word)
    urls = _urls(text)
    if urls and len(_URL.sub(" ", text).split()) <= _LINK_DROP_MAX_WORDS:
        return Command("ingest", text, urls)
    return Command("draft", text, urls)


def _command(name: CommandName, rest: str) -> Command:
    if name == "draft":
        head, _, prompt = rest.partition(" ")
        if head.lower() in FORMATS:
            return Command("draft", prompt.strip(), _urls(prompt), format=head.lower())
        return Command("draft", rest, _urls(rest))
    if name in ("ingest", "forget"):
        return Command(name, rest, _urls(rest) or tuple(rest.split()))
    return Command(name, rest)


def _urls(text: str) -> tuple[str, ...]:
    found = (url.rstrip(".,;:!?)]") for url in _URL.findall(text))
    return tuple(dict.fromkeys(found))
