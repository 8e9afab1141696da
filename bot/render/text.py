"""Block Kit to terminal text, for the console: the same messages Slack would get."""

from __future__ import annotations

import re

from bot.render.messages import Block, Message

_LINK = re.compile(r"<([^|>]+)\|([^>]+)>")


_EMOJI = {":warning:": "⚠", ":hourglass:": "⏳", ":white_check_mark:": "✔", ":rotating_light:": "🚨"}
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")


def mrkdwn_to_text(text: str) -> str:
    text = _LINK.sub(r"\2 (\1)", text)
    text = _BOLD.sub(r"\1", text)
    for code, symbol in _EMOJI.items():
        text = text.replace(code, symbol)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def render_text(message: Message) -> str:
    """A readable text form of a message: headers underlined, buttons in brackets."""
    if not message.blocks:
        return mrkdwn_to_text(message.text)
    lines: list[str] = []
    for block in message.blocks:
        lines.extend(_block_lines(block))
    for reply in message.thread_messages:
        lines.append("  ↳ in thread:")
        lines.extend("    " + line for line in render_text(reply).splitlines())
    return "\n".join(lines)


def _block_lines(block: Block) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        title = str(block["text"]["text"])
        return [title, "=" * min(len(title), 60)]
    if kind == "section":
        lines = mrkdwn_to_text(str(block.get("text", {}).get("text", ""))).splitlines()
        lines += [mrkdwn_to_text(str(f.get("text", ""))) for f in block.get("fields", [])]
        return lines
    if kind == "context":
        return ["  " + " · ".join(mrkdwn_to_text(str(e.get("text", ""))) for e in block.get("elements", []))]
    if kind == "actions":
        return [" ".join(f"[{e['text']['text']}]" for e in block.get("elements", []) if "text" in e)]
    if kind == "divider":
        return ["-" * 40]
    return []
