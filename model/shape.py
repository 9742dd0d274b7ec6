"""Platform shape, enforced on a finished draft: pure functions over its text.

`shape()` runs the rules in order: the prompt's own <material> and <example> tag lines
that leaked into the draft are dropped, and a first line that only names the speaker
("Sam Rivera:", "Assistant:"); a draft the model stopped early (at
drafting.max_new_tokens or model.timeout) is cut back to its last whole sentence; the
assistant's preamble and sign-off ("Sure! Here's a LinkedIn post…:", "As an AI…", "Let me
know if you'd like…") go, as leading and trailing sentences only; a fence wrapping the
whole draft goes (not from an answer, where code is content); then the format's shape:

- thread: numbered posts `1/`, `2/`, … (the model's own numbering, "1.", "1/", "(1/5)",
  "Tweet 1:", is dropped first), one per paragraph, each within X's 280 characters as X
  counts them (a link is 23, wide characters and emoji 2); a longer post is split on
  sentence boundaries, a sentence longer than a post on word boundaries.
- linkedin: within drafting.linkedin_max_chars (and LinkedIn's 3,000), cut at a sentence
  end, trailing hashtags kept.
- article: bare Markdown.

Every rule only removes text or splits it: the words that remain are the model's, in its
order (numbering aside). A rule that would leave nothing leaves the text as it was.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Labels of the assistant's turn a model may write before the text, as in a transcript.
_SPEAKERS = {"assistant", "ai", "answer", "response", "bot"}
X_MAX_CHARS = 280
X_URL_CHARS = 23  # X shortens every link to t.co: 23 characters whatever its length
LINKEDIN_MAX_CHARS = 3000
_MARKER_BUDGET = len("99/ ")  # the widest post number a thread gets

# Why a model stops early, and the setting behind it.
_STOPPED_BY = {"length": "drafting.max_new_tokens", "timeout": "model.timeout"}

_URL = re.compile(r"https?://\S+")
_MATERIAL_TAG = re.compile(
    r"^\s*</?\s*(?:material|example)\b[^>\n]*>\s*$", re.IGNORECASE | re.MULTILINE
)
# A sentence ends at . ! ? or … (closing quotes and brackets included) before a space.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s|$)")
# … but not after an abbreviation: e.g., Dr., U.S., a.m.
_ABBREVIATION = re.compile(r"(?:\b(?:e\.g|i\.e|vs|Mr|Mrs|Ms|Dr)|\b[A-Z]|\b[a-z]\.[a-z])\.$")

# --- preambles and sign-offs: sentences the assistant says about the draft ---------------

_A = r"(?:'|’)"  # either apostrophe
_NOUN = (
    r"(?:(?:re)?drafts?|outlines?|versions?|responses?|answers?|repl(?:y|ies)|rewrites?|"
    r"summary|(?:linkedin|x|twitter)\s+(?:post|thread)s?|tweets)"
)
_READY_NOUN = r"(?:draft|post|thread|outline|article|answer|response)s?"
_INTERJECTION = r"(?:sure|certainly|of course|absolutely|okay|ok|alright|all right|great)"
_LEADING = [
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"^{_INTERJECTION}\s*[!.,]*$",  # "Sure!", "Certainly."
        # "Here's a LinkedIn post about…:", "Here is the outline:", "Below is a draft…"
        rf"^(?:here{_A}s|here\s+(?:is|are)|below\s+(?:is|are)|the\s+following\s+(?:is|are))\s+"
        rf"(?:(?:a|an|the|my|your|one)\s+)?(?!what|how|why|where|when|who)(?:[\w’'-]+\s+){{0,3}}"
        rf"{_NOUN}\b.*[:.]$",
        # "Here's a post:", "Here is the thread you asked for:"
        rf"^(?:here{_A}s|here\s+(?:is|are))\s+(?:a|an|the|your)\s+(?:[\w-]+\s+){{0,2}}"
        r"(?:post|thread|article)s?\s*:$",
        rf"^(?:here{_A}s|here\s+(?:is|are))\b.*\b(?:post|thread|article)s?\b.*\b(?:for\s+you|"
        rf"you\s+asked\s+for|as\s+requested|in\s+(?:the|your|\w+{_A}s)\s+(?:voice|style))\b.*:$",
        # "The article on writing runbooks is ready."
        rf"^(?:the|your)\s+(?:[\w-]+\s+){{0,2}}{_READY_NOUN}\b[^.!?]{{0,80}}\b(?:is|are)\s+ready\b",
        # "I'm happy to help…", "I'd be glad to write a post…", "I'm ready to collaborate…"
        # (not "I'm happy to collaborate with Ana on…", "I'm happy to write about failure")
        rf"^I(?:{_A}m|\s+am|{_A}d\s+be|\s+would\s+be|{_A}ll\s+be|\s+will\s+be)\s+"
        r"(?:so\s+|more\s+than\s+|very\s+|really\s+)?(?:happy|glad|ready|delighted|here)\s+to\s+"
        r"(?:help|assist|work\s+with\s+you|collaborate(?!\s+with\s+(?!you\b))|(?:write|draft|"
        rf"create|provide)\s+(?:a|an|the|this|your|you)\s+(?:[\w-]+\s+){{0,2}}?(?:{_NOUN}|"
        r"posts?|threads?|articles?|outlines?)\b)",
        # "Sure, I'd be happy to …" (anything: the interjection makes it the assistant's)
        rf"^{_INTERJECTION}\s*[!,.]\s*I(?:{_A}d|{_A}ll|\s+would|\s+will|{_A}m|\s+am)\s+(?:be\s+)?"
        r"(?:happy|glad|delighted)\s+to\b",
        r"^as\s+an\s+ai(?:\s+language\s+model|\s+assistant|\s+model)?\s*[,.]",
        rf"^I(?:{_A}m|\s+am)\s+an\s+ai\s+(?:language\s+model|(?:writing\s+)?assistant|model)\b",
    )
]
# Only right after a sentence the patterns above removed: the assistant going on.
_LEADING_MORE = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^please\s+(?:share|provide|send|paste|let\s+me\s+know)\b",
        r"^(?:what|how)\s+(?:do|would|can|could)\s+(?:you|I)\s+(?:want|like|help)\b.*\?$",
    )
]
_EDITS = r"(?:changes|edits|adjustments|revisions|tweaks)"
_TRAILING = [
    re.compile(p, re.IGNORECASE)
    for p in (
        # "Let me know if you'd like me to…", "… if you want any changes", "… if you have
        # any other questions" (not "Let me know if you've ever been paged at 3 a.m.")
        rf"^let\s+me\s+know\s+if\s+(?:you(?:{_A}d|\s+would)?\s+(?:like|want|need)\s+(?:me\s+to|"
        rf"(?:any\s+)?{_EDITS}|a\s+different\s+(?:tone|version|angle|length|style)|to\s+"
        r"(?:adjust|change|tweak|edit|revise))\b|you\s+have\s+any\s+(?:other\s+|further\s+)?"
        rf"(?:questions|feedback|{_EDITS}|requests)\b|there(?:{_A}s|\s+is)\s+anything\s+(?:else\s+)?"
        rf"I\s+can\b|this\s+(?:works|helps)\b|I\s+(?:can|should)\s+(?:help|adjust|change)\b|"
        rf"any\s+{_EDITS}\b)",
        # "I hope this helps!", "Hope this draft works for you." (the whole sentence only)
        r"^(?:I\s+)?hope\s+(?:this|that|it)\s+(?:(?:draft|post|outline|thread|version|response|"
        r"answer)\s+)?(?:helps|works(?:\s+for\s+you)?|is\s+helpful|meets\s+your\s+(?:needs|"
        r"expectations))\s*[.!]*$",
        r"^feel\s+free\s+to\s+(?:adjust|modify|tweak|edit|change|customi[sz]e|let\s+me)\b",
        r"^(?:would|do)\s+you\s+(?:like|want)\s+me\s+to\b",
        rf"^if\s+you(?:{_A}d)?\s+(?:like|want)\s*,\s*I\s+(?:can|could)\b",
        r"^as\s+an\s+ai(?:\s+language\s+model|\s+assistant|\s+model)?\s*[,.]",
    )
]

# --- the model's own thread numbering -----------------------------------------------------

_NUMBERING = re.compile(
    r"^[ \t]*(?:\(\d{1,2}\s*/\s*\d{0,2}\)|\[\d{1,2}\s*/\s*\d{0,2}\]|\d{1,2}\s*/\s*\d{0,2}"
    r"(?=\s|$)|\d{1,2}[.)](?=\s|$)|(?:tweet|post)\s*#?\d{1,2}(?:\s*/\s*\d{1,2})?\s*[:.)-]"
    r"|#\d{1,2}[:.)](?=\s|$))[ \t]*",
    re.IGNORECASE,
)
_TRAILING_NUMBER = re.compile(r"[ \t]*[(\[]\d{1,2}\s*/\s*\d{1,2}[)\]][ \t]*$")
_FENCE_OPEN = re.compile(
    r"^\s*(?:(?:```+|~~~+)[ \t]*(?:markdown|md|text|plaintext)?|<pre>\s*<code>)[ \t]*(?:\n|$)",
    re.IGNORECASE,
)
_HASHTAGS = re.compile(r"\n[ \t]*(#\w+(?:[ \t]+#\w+)*)[ \t]*$")


@dataclass(frozen=True)
class Shaped:
    text: str
    notes: tuple[str, ...] = ()


def shape(
    text: str,
    fmt: str,
    *,
    finish_reason: str = "stop",
    linkedin_max_chars: int = 1300,
    speakers: Sequence[str] = (),
) -> Shaped:
    """The draft as the owner gets it: see the module's docstring for the rules' order.
    `speakers`: the owner's names, a label line of which the model may open with."""
    notes: list[str] = []
    out = strip_speaker(_MATERIAL_TAG.sub("", text).strip(), speakers)
    if finish_reason in _STOPPED_BY:
        out, note = _cut_stopped(out, _STOPPED_BY[finish_reason])
        notes.append(note)
    out = strip_meta(out)
    if fmt != "answer":
        out = strip_meta(unfence(out))
    if fmt == "thread":
        out = number_thread(out)
    elif fmt == "linkedin":
        limit = min(linkedin_max_chars, LINKEDIN_MAX_CHARS)
        fitted = fit_linkedin(out, limit)
        if fitted != out:
            notes.append(
                f"cut to {limit:,} characters at a sentence end (drafting.linkedin_max_chars)"
            )
        out = fitted
    return Shaped(out or text.strip(), tuple(notes))


def _cut_stopped(text: str, setting: str) -> tuple[str, str]:
    cut = cut_to_sentence(text)
    if cut and cut != text:
        return cut, f"cut back to the last whole sentence: the model stopped at {setting}"
    if cut:
        return text, f"the model stopped at {setting}, at the end of a sentence"
    return text, f"the model stopped at {setting} mid-sentence (no whole sentence to cut to)"


# --- sentences --------------------------------------------------------------------------


def sentence_ends(text: str) -> list[int]:
    """Where sentences end in `text`: after . ! ? … (and closing quotes) followed by a space
    or the end, and at every line end (a heading, a list item and a paragraph end a unit)."""
    ends = {m.end() for m in _SENTENCE_END.finditer(text) if not _abbreviation(text, m.end())}
    ends |= {m.start() for m in re.finditer(r"[ \t]*\n", text)}
    return sorted(e for e in ends if text[:e].strip())


def _abbreviation(text: str, end: int) -> bool:
    return bool(_ABBREVIATION.search(text[max(0, end - 6) : end]))


def sentences(text: str) -> list[str]:
    """`text` split at `sentence_ends`, each piece stripped, empty ones dropped."""
    pieces, start = [], 0
    for end in [*sentence_ends(text), len(text)]:
        if piece := text[start:end].strip():
            pieces.append(piece)
        start = end
    return pieces


def cut_to_sentence(text: str) -> str:
    """`text` up to its last whole sentence (or line); empty when it has none."""
    text = text.rstrip()
    ends = sentence_ends(text)
    if ends and ends[-1] == len(text):
        return text
    return text[: ends[-1]].rstrip() if ends else ""


# --- preambles and sign-offs --------------------------------------------------------------


def strip_speaker(text: str, names: Sequence[str]) -> str:
    """`text` without a first line that only says who speaks ("Simon Willison:",
    "**Assistant:**"), as in a transcript: a label the model writes, not the owner's words.
    Only the owner's `names` and the assistant's own count; "Lessons learned:" stays."""
    first, _, rest = text.partition("\n")
    line = first.strip().strip("*_ ")
    known = {n.strip().lower() for n in names if n.strip()} | _SPEAKERS
    if line.endswith(":") and line[:-1].strip().lower() in known and rest.strip():
        return rest.strip()
    return text


def strip_meta(text: str) -> str:
    """`text` without the assistant's leading preamble and trailing sign-off sentences."""
    stripped = _strip_trailing(_strip_leading(text.strip()))
    return stripped if stripped else text.strip()


def _strip_leading(text: str) -> str:
    removed = False
    while text:
        first = next(iter(sentences(text)), "")
        patterns = _LEADING + _LEADING_MORE if removed else _LEADING
        if not first or not any(p.search(first) for p in patterns):
            return text
        text = text[text.index(first) + len(first) :].strip()
        removed = True
    return text


def _strip_trailing(text: str) -> str:
    while text:
        last = next(iter(reversed(sentences(text))), "")
        if not last or not any(p.search(last) for p in _TRAILING):
            return text
        text = text[: text.rindex(last)].rstrip()
    return text


def unfence(text: str) -> str:
    """`text` without a fence wrapping all of it (``` or ```markdown, ~~~, <pre><code>);
    a fence the model never closed (it stopped early) goes too, if it is the only one."""
    opener = _FENCE_OPEN.match(text)
    if opener is None:
        return text
    body = text[opener.end() :]
    closer = re.search(r"\n[ \t]*(?:```+|~~~+|</code>\s*</pre>)[ \t]*$", "\n" + body)
    if closer is not None:
        body = ("\n" + body)[: closer.start()]
    if re.search(r"^[ \t]*(?:```|~~~)", body, re.MULTILINE):
        return text  # a fence inside: not one wrapping the whole draft
    return body.strip()


# --- threads ------------------------------------------------------------------------------


def x_length(text: str) -> int:
    """Characters as X counts them: a link is 23, a character outside the Latin, Greek,
    Cyrillic and general-punctuation ranges (CJK, emoji) is 2."""
    length, last = 0, 0
    for url in _URL.finditer(text):
        length += _weighted(text[last : url.start()]) + X_URL_CHARS
        last = url.end()
    return length + _weighted(text[last:])


def _weighted(text: str) -> int:
    return sum(1 if _narrow(ord(c)) else 2 for c in text)


def _narrow(code: int) -> bool:
    return code <= 4351 or 8192 <= code <= 8205 or 8208 <= code <= 8223 or 8242 <= code <= 8247


def thread_posts(text: str) -> list[str]:
    """The posts of a thread draft, unnumbered: one per paragraph, and one per line the
    model numbered itself."""
    posts: list[str] = []
    for paragraph in re.split(r"\n[ \t]*\n", text):
        current: list[str] = []
        for line in paragraph.splitlines():
            if _NUMBERING.match(line) and current:
                posts.append("\n".join(current))
                current = []
            current.append(_TRAILING_NUMBER.sub("", _NUMBERING.sub("", line, count=1)))
        posts.append("\n".join(current))
    return [post.strip() for post in posts if post.strip()]


def fit_post(post: str, limit: int) -> list[str]:
    """`post` as pieces of at most `limit` (as X counts), packed greedily from the largest
    units that fit: its lines, else a line's sentences, else a sentence's words."""
    pieces: list[str] = []
    for unit in _units(post, limit):
        joined = _join(pieces[-1], unit, post) if pieces else ""
        if joined and x_length(joined) <= limit:
            pieces[-1] = joined
        else:
            pieces.append(unit)
    return pieces


def _units(post: str, limit: int) -> list[str]:
    if x_length(post) <= limit:
        return [post]
    units: list[str] = []
    for line in filter(None, (line.strip() for line in post.splitlines())):
        if x_length(line) <= limit:
            units.append(line)
            continue
        for sentence in sentences(line):
            fits = x_length(sentence) <= limit
            units += [sentence] if fits else _split_words(sentence, limit)
    return units


def _join(before: str, after: str, source: str) -> str:
    """Two consecutive pieces of `source` with the space between them as it was there."""
    gap = re.escape(before[-20:]) + r"(\s+)" + re.escape(after[:20])
    found = re.search(gap, source)
    return before + (found.group(1) if found else " ") + after


def _split_words(sentence: str, limit: int) -> list[str]:
    pieces: list[str] = []
    for word in sentence.split():
        chunks = [word] if x_length(word) <= limit else _hard_split(word, limit)
        for chunk in chunks:
            if pieces and x_length(f"{pieces[-1]} {chunk}") <= limit:
                pieces[-1] += " " + chunk
            else:
                pieces.append(chunk)
    return pieces


def _hard_split(word: str, limit: int) -> list[str]:
    pieces = [""]
    for char in word:
        if x_length(pieces[-1] + char) > limit:
            pieces.append("")
        pieces[-1] += char
    return pieces


def number_thread(text: str) -> str:
    """The thread as numbered posts `1/ …`, each within X's 280 characters."""
    limit = X_MAX_CHARS - _MARKER_BUDGET
    posts = [piece for post in thread_posts(text) for piece in fit_post(post, limit)]
    return "\n\n".join(f"{n}/ {post}" for n, post in enumerate(posts, start=1))


# --- LinkedIn -----------------------------------------------------------------------------


def fit_linkedin(text: str, limit: int) -> str:
    """`text` within `limit` characters, cut at its last sentence end that fits; a trailing
    hashtag line is kept. A first sentence longer than the limit is cut between words."""
    if len(text) <= limit:
        return text
    tags = _HASHTAGS.search(text)
    body, tail = (text[: tags.start()], "\n\n" + tags.group(1)) if tags else (text, "")
    room = limit - len(tail)
    if room < limit // 2:  # tags that long are not worth the post
        body, tail, room = text, "", limit
    ends = [e for e in sentence_ends(body) if e <= room]
    if ends:
        return body[: ends[-1]].rstrip() + tail
    words = body[: room - 1].rsplit(maxsplit=1)[0] if " " in body[: room - 1] else body[: room - 1]
    return words.rstrip() + "…" + tail
