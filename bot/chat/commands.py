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
import typing
from dataclasses import dataclass, field
from typing import Literal

from core.errors import InputError
from model.prompts import FORMATS
from training.run import TrainOptions

CommandName = Literal[
    "draft",
    "ingest",
    "sources",
    "forget",
    "search",
    "status",
    "cancel",
    "train",
    "models",
    "recrawl",
    "schedules",
    "pause",
    "resume",
    "run",
    "help",
    "unknown",
]
COMMANDS: tuple[CommandName, ...] = tuple(
    name for name in typing.get_args(CommandName) if name != "unknown"
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
train [dpo] [steps N]                             fine-tune on your writing (progress here)
train status | train cancel | train resume RUN    follow, stop or resume training
models                                            training runs; * marks the active one
models activate RUN|base                          draft with RUN (or the base model)
recrawl [<source>]                                fetch what changed in your sources now
schedules                                         scheduled jobs and when they run next
pause <job> | resume <job> | run <job>            stop, restart or run a scheduled job now
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


@dataclass(frozen=True, slots=True)
class TrainArgs:
    """`train` and its words: start (with options), status or cancel."""

    action: Literal["start", "status", "cancel"] = "start"
    options: TrainOptions = field(default_factory=TrainOptions)


_TRAIN_USAGE = "say train, train dpo, train steps N, train resume RUN, train status or train cancel"


def parse_train(text: str) -> TrainArgs:
    """`train [dpo] [steps N]`, `train resume RUN`, `train status`, `train cancel`."""
    words = text.lower().split()
    if words in (["status"], ["cancel"]):
        return TrainArgs("status" if words == ["status"] else "cancel")
    dpo, steps, resume = False, None, None
    rest = iter(text.split())
    for word in rest:
        match word.lower():
            case "dpo":
                dpo = True
            case "steps" | "max-steps" | "--max-steps":
                value = next(rest, "")
                if not value.isdigit() or int(value) < 1:
                    raise InputError("train", f"steps wants a whole number of steps, got {value!r}")
                steps = int(value)
            case "resume":
                resume = next(rest, "")
                if not resume:
                    raise InputError("train", "resume wants a run id; models lists them")
            case _:
                raise InputError("train", f"I do not know {word!r}; {_TRAIN_USAGE}")
    if resume and (dpo or steps is not None):
        raise InputError("train", "a resumed run keeps its own settings; say train resume RUN")
    return TrainArgs(options=TrainOptions(max_steps=steps, dpo=dpo, resume=resume))


def parse_models(text: str) -> str | None:
    """`models` (None: list them) or `models activate RUN|base` (that RUN)."""
    words = text.split()
    if not words or words == ["list"]:
        return None
    if words[0].lower() == "activate" and len(words) == 2:
        return words[1]
    raise InputError("models", "say models to list the runs, or models activate RUN|base")


def _urls(text: str) -> tuple[str, ...]:
    found = (url.rstrip(".,;:!?)]") for url in _URL.findall(text))
    return tuple(dict.fromkeys(found))
