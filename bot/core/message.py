"""The message value every builder returns and every transport sends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Block = dict[str, Any]


@dataclass(frozen=True)
class Message:
    """A Slack message: plain `text` (fallback and notifications) plus Block Kit blocks."""

    text: str
    blocks: list[Block] = field(default_factory=list)
    # Long lists that do not fit in the message itself, posted in its thread.
    thread_messages: list[Message] = field(default_factory=list)
    # Slack message metadata ({"event_type", "event_payload"}): lets the bot find a
    # message it posted, e.g. an alert whose delivery was not recorded before a crash.
    metadata: dict[str, Any] | None = None
    # What the message is (`alert`, `digest`, `investigation`…), for surfaces that say so
    # (the console labels what it prints); Slack shows the blocks alone.
    label: str = ""


@dataclass(frozen=True)
class FileUpload:
    """A file that goes with an answer (a timeline picture): uploaded to the channel, or
    the thread, by the surface; saved to disk by the console."""

    filename: str
    content: bytes
    title: str


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


# Plain text shows `&lt;` as typed, so angle brackets are swapped for look-alikes instead:
# nothing in a header can then be read as a mention or a link.
_PLAIN_ANGLES = str.maketrans({"<": "‹", ">": "›"})


def header(text: str) -> Block:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": _cut(text.translate(_PLAIN_ANGLES), 150), "emoji": True},
    }


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": t} for t in texts[:10]]}


def divider() -> Block:
    return {"type": "divider"}


def button(text: str, action_id: str, value: str, *, style: str | None = None) -> Block:
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": text.translate(_PLAIN_ANGLES)[:75], "emoji": True},
        "action_id": action_id[:255],
        "value": value[:2000],
    }
    if style:
        element["style"] = style
    return element


def actions(elements: list[Block], block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": elements[:25]}
    if block_id:
        block["block_id"] = block_id[:255]
    return block
