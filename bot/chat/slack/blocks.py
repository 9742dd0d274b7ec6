"""Block Kit for the adapter's messages: replies, the settled draft and the edit modal.

Slack's limits shape everything here: a section's text is at most 3000 characters and a
message holds at most 50 blocks, so long text becomes several sections and, past 50, more
messages (the adapter posts those in the draft's thread). Every message carries a `text`
fallback for notifications and clients without blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.chat.replies import BUTTON_LABELS, FEEDBACK_ACTIONS, DraftFinal, FeedbackAction
from bot.chat.slack.mrkdwn import split_text, to_mrkdwn

SECTION_LIMIT = 3000
BLOCKS_PER_MESSAGE = 50
FALLBACK_LIMIT = 3000
EDIT_INPUT_LIMIT = 3000  # a plain_text_input holds at most this many characters
FEEDBACK_BLOCK = "twin_feedback"
EDIT_CALLBACK = "twin_edit"
EDIT_BLOCK = "twin_edit_text"
EDIT_INPUT = "text"
ACTION_IDS: dict[str, FeedbackAction] = {f"fb_{action}": action for action in FEEDBACK_ACTIONS}

Block = dict[str, Any]


@dataclass(frozen=True)
class SlackMessage:
    text: str  # the fallback: notifications, screen readers, clients without blocks
    blocks: list[Block] = field(default_factory=list)


def sections(mrkdwn: str) -> list[Block]:
    """Section blocks holding all of `mrkdwn`, each within the section limit."""
    pieces = [p.strip() for p in split_text(mrkdwn, SECTION_LIMIT)]
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": piece}} for piece in pieces if piece
    ]


def fallback(mrkdwn: str) -> str:
    text = mrkdwn.strip()
    if len(text) <= FALLBACK_LIMIT:
        return text
    return split_text(text, FALLBACK_LIMIT - 1)[0].rstrip() + "…"


def say_messages(text: str) -> list[SlackMessage]:
    """A `Say` reply as one message (more when it is past 50 sections)."""
    mrkdwn = to_mrkdwn(text) or " "
    return _pack(sections(mrkdwn) or [_section("…")], mrkdwn)


def draft_messages(final: DraftFinal) -> list[SlackMessage]:
    """The settled draft: its text, the footer (sources, notes) and the feedback buttons."""
    body = to_mrkdwn(final.text)
    blocks = sections(body) or [_section("_(the model wrote nothing)_")]
    footer = to_mrkdwn(final.footer)
    blocks += [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": piece.strip()}]}
        for piece in split_text(footer, SECTION_LIMIT)
        if piece.strip()
    ]
    blocks.append(feedback_actions(final.draft_id))
    return _pack(blocks, body or footer or "(empty draft)")


def streaming_text(text: str) -> str:
    """The draft while it streams: plain message text (no blocks), marked unfinished."""
    return fallback(to_mrkdwn(text) + " …") or "…"


def feedback_actions(draft_id: str) -> Block:
    return {
        "type": "actions",
        "block_id": FEEDBACK_BLOCK,
        "elements": [
            {
                "type": "button",
                "action_id": action_id,
                "text": {"type": "plain_text", "text": BUTTON_LABELS[action], "emoji": True},
                "value": draft_id,
            }
            for action_id, action in ACTION_IDS.items()
        ],
    }


def edit_modal(draft_text: str, private_metadata: str) -> dict[str, Any]:
    """The ✏️ modal: the draft in a multiline input; `private_metadata` says where it is."""
    return {
        "type": "modal",
        "callback_id": EDIT_CALLBACK,
        "private_metadata": private_metadata,
        "title": {"type": "plain_text", "text": "Edit the draft"},
        "submit": {"type": "plain_text", "text": "Save my version"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": EDIT_BLOCK,
                "label": {
                    "type": "plain_text",
                    "text": "Your version (the next training learns it)",
                },
                "element": {
                    "type": "plain_text_input",
                    "action_id": EDIT_INPUT,
                    "multiline": True,
                    "max_length": EDIT_INPUT_LIMIT,
                    "initial_value": draft_text[:EDIT_INPUT_LIMIT],
                },
            }
        ],
    }


def _section(mrkdwn: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}


def _pack(blocks: list[Block], mrkdwn: str) -> list[SlackMessage]:
    """Blocks in messages of at most 50; the first falls back to the whole text's start,
    the others to their own sections' text."""
    messages = []
    for start in range(0, len(blocks), BLOCKS_PER_MESSAGE):
        chunk = blocks[start : start + BLOCKS_PER_MESSAGE]
        text = mrkdwn if start == 0 else "\n".join(_texts(chunk))
        messages.append(SlackMessage(fallback(text) or "…", chunk))
    return messages


def _texts(blocks: list[Block]) -> list[str]:
    out = []
    for block in blocks:
        if block["type"] == "section":
            out.append(block["text"]["text"])
        elif block["type"] == "context":
            out += [element["text"] for element in block["elements"]]
    return out
