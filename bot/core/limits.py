"""Block Kit limits (SLACK_FACTS.md), checked on plain dicts since slack_sdk does not, and
the two ways builders stay within them: text split between lines, lines shortened safely."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bot.core.message import Message

MAX_BLOCKS_MESSAGE = 50
MAX_BLOCKS_HOME = 100
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_ELEMENT_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_FALLBACK_TEXT = 40_000

# An escape (`&amp;`, `&lt;`) cut before its `;` would show as text.
_PARTIAL_ENTITY = re.compile(r"&[a-z#0-9]{0,6}$")


def shorten_line(line: str, limit: int) -> str:
    """`line` if it fits, else cut to at most `limit` characters ending in `…`: at a space
    where there is one near the end, never inside an escape, and with a code span that the
    cut left open closed again (so the rest of the message is not shown as code)."""
    if len(line) <= limit:
        return line
    cut = line[: max(limit - 2, 0)]
    space = cut.rfind(" ")
    if 0 < space and space > len(cut) - 80:
        cut = cut[:space]
    cut = _PARTIAL_ENTITY.sub("", cut)
    if cut.count("`") % 2:
        cut += "`"
    return cut[: max(limit - 1, 0)] + "…"


def split_lines(lines: Sequence[str], *, limit: int = MAX_SECTION_TEXT) -> list[str]:
    """Lines joined into as few texts of at most `limit` characters as they fit in, split
    only between lines; a single line longer than `limit` is shortened (`shorten_line`)."""
    texts: list[str] = []
    chunk: list[str] = []
    size = 0
    for raw in lines:
        line = shorten_line(raw, limit)
        if chunk and size + 1 + len(line) > limit:
            texts.append("\n".join(chunk))
            chunk, size = [], 0
        size += len(line) + (1 if chunk else 0)
        chunk.append(line)
    if chunk:
        texts.append("\n".join(chunk))
    return texts


def fallback_text(text: str, limit: int = MAX_SECTION_TEXT) -> str:
    """A message's plain-text fallback (notifications): whole lines that fit, then `…`."""
    if len(text) <= limit:
        return text
    return split_lines(text.splitlines(), limit=limit - 2)[0] + "\n…"


def block_kit_violations(message: Message, *, max_blocks: int = MAX_BLOCKS_MESSAGE) -> list[str]:
    """Every way the message breaks Slack's limits, as readable strings; [] when valid."""
    problems: list[str] = []
    if not message.text:
        problems.append("no plain-text fallback")
    if len(message.text) > MAX_FALLBACK_TEXT:
        problems.append(f"text over {MAX_FALLBACK_TEXT:,} characters")
    if len(message.blocks) > max_blocks:
        problems.append(f"{len(message.blocks)} blocks (max {max_blocks})")
    action_ids: list[str] = []
    for index, block in enumerate(message.blocks):
        where = f"blocks[{index}]"
        kind = block.get("type")
        text = block.get("text")
        if kind == "section":
            if isinstance(text, dict) and not 0 < len(text.get("text", "")) <= MAX_SECTION_TEXT:
                problems.append(f"{where}: section text empty or over {MAX_SECTION_TEXT}")
            fields = block.get("fields", [])
            if len(fields) > 10 or any(len(f.get("text", "")) > MAX_FIELD_TEXT for f in fields):
                problems.append(f"{where}: fields over limits")
            if not text and not fields:
                problems.append(f"{where}: section without text")
        elif kind == "header":
            if not isinstance(text, dict) or not 0 < len(text.get("text", "")) <= MAX_HEADER_TEXT:
                problems.append(f"{where}: header text empty or over {MAX_HEADER_TEXT}")
        elif kind == "context":
            elements = block.get("elements", [])
            if not 0 < len(elements) <= 10:
                problems.append(f"{where}: context needs 1 to 10 elements")
            if any(not 0 < len(e.get("text", "")) <= MAX_CONTEXT_ELEMENT_TEXT for e in elements):
                problems.append(f"{where}: context text empty or over {MAX_CONTEXT_ELEMENT_TEXT}")
        elif kind == "actions":
            elements = block.get("elements", [])
            if not 0 < len(elements) <= 25:
                problems.append(f"{where}: actions needs 1 to 25 elements")
            for element in elements:
                problems.extend(_button_problems(where, element))
                if "action_id" in element:
                    action_ids.append(element["action_id"])
        elif kind == "input":  # modals only
            label = block.get("label")
            if not isinstance(label, dict) or not 0 < len(label.get("text", "")) <= 2000:
                problems.append(f"{where}: input label empty or over 2000")
            element = block.get("element")
            options = element.get("options", []) if isinstance(element, dict) else []
            if not isinstance(element, dict) or not 0 < len(options) <= 100:
                problems.append(f"{where}: input needs an element with 1 to 100 options")
            elif any(len(o.get("text", {}).get("text", "")) > 75 for o in options):
                problems.append(f"{where}: option text over 75")
        elif kind != "divider":
            problems.append(f"{where}: unexpected block type {kind!r}")
        if len(block.get("block_id", "")) > 255:
            problems.append(f"{where}: block_id over 255")
        accessory = block.get("accessory")
        if isinstance(accessory, dict):
            problems.extend(_button_problems(where, accessory))
            if "action_id" in accessory:
                action_ids.append(accessory["action_id"])
    if len(action_ids) != len(set(action_ids)):
        problems.append("duplicate action_id")
    return problems


def _button_problems(where: str, element: dict[str, Any]) -> list[str]:
    problems = []
    if element.get("type") == "button":
        if not 0 < len(element.get("text", {}).get("text", "")) <= 75:
            problems.append(f"{where}: button text empty or over 75")
        if len(element.get("value", "")) > 2000:
            problems.append(f"{where}: button value over 2000")
        if not 0 < len(element.get("action_id", "")) <= 255:
            problems.append(f"{where}: action_id empty or over 255")
    return problems
