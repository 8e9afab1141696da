"""Block Kit limits (SLACK_FACTS.md), checked on plain dicts since slack_sdk does not."""

from __future__ import annotations

from typing import Any

from bot.render.messages import Message

MAX_BLOCKS_MESSAGE = 50
MAX_BLOCKS_HOME = 100


def block_kit_violations(message: Message, *, max_blocks: int = MAX_BLOCKS_MESSAGE) -> list[str]:
    """Every way the message breaks Slack's limits, as readable strings; [] when valid."""
    problems: list[str] = []
    if not message.text:
        problems.append("no plain-text fallback")
    if len(message.text) > 40_000:
        problems.append("text over 40,000 characters")
    if len(message.blocks) > max_blocks:
        problems.append(f"{len(message.blocks)} blocks (max {max_blocks})")
    action_ids: list[str] = []
    for index, block in enumerate(message.blocks):
        where = f"blocks[{index}]"
        kind = block.get("type")
        text = block.get("text")
        if kind == "section":
            if isinstance(text, dict) and len(text.get("text", "")) > 3000:
                problems.append(f"{where}: section text over 3000")
            fields = block.get("fields", [])
            if len(fields) > 10 or any(len(f.get("text", "")) > 2000 for f in fields):
                problems.append(f"{where}: fields over limits")
            if not text and not fields:
                problems.append(f"{where}: section without text")
        elif kind == "header":
            if not isinstance(text, dict) or not 0 < len(text.get("text", "")) <= 150:
                problems.append(f"{where}: header text empty or over 150")
        elif kind == "context":
            if not 0 < len(block.get("elements", [])) <= 10:
                problems.append(f"{where}: context needs 1 to 10 elements")
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
