"""Block Kit to terminal text, for the console: the same messages Slack would get, read as
plain text (pure).

Slack's mrkdwn becomes what a person reads in Slack: `<@U…>` a name (`@you`), `<#C…>` a
channel name, `<url|label>` `label (url)`, `:emoji:` codes their symbol, `*bold*`,
`_italic_` and `~strike~` plain words, and `&lt;`-style entities the characters. Code spans
keep their backticks (they set off untrusted values) and nothing inside them is touched.
Buttons are shown as `[n Label]` when the caller numbers them (the console, which lets
you press them), else `[Label]`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from bot.core.message import Block, Message

# The emoji codes the bot's builders use, and a few common ones.
EMOJI = {
    ":warning:": "⚠",
    ":hourglass:": "⏳",
    ":white_check_mark:": "✔",
    ":rotating_light:": "🚨",
    ":no_bell:": "🔕",
    ":bell:": "🔔",
    ":mag:": "🔍",
    ":x:": "✖",
    ":heavy_plus_sign:": "➕",
    ":heavy_minus_sign:": "➖",
    ":pencil2:": "✏️",
    ":chart_with_upwards_trend:": "📈",
    ":new:": "🆕",
    ":eyes:": "👀",
    ":zzz:": "💤",
    ":no_entry_sign:": "🚫",
    ":thread:": "🧵",
    ":link:": "🔗",
    ":office:": "🏢",
    ":large_green_circle:": "🟢",
    ":red_circle:": "🔴",
    ":white_circle:": "⚪",
    ":label:": "🏷",
}

_CODE_SPAN = re.compile(r"(`[^`\n]*`)")
_ANGLE = re.compile(r"<([^<>]+)>")
_EMOJI_CODE = re.compile(r":([a-z0-9_+-]+):")
# Slack's emphasis: a marker at a word boundary, its text not starting or ending in a space.
_EMPHASIS = [re.compile(rf"(?<![\w{m}]){m}(\S(?:[^{m}\n]*\S)?){m}(?![\w{m}])") for m in (r"\*", "_", "~")]

# A button as a caller shows it: gets the button element, returns the text in brackets.
ButtonLabel = Callable[[Block], str]


def mrkdwn_to_text(text: str, names: Mapping[str, str] | None = None) -> str:
    """One mrkdwn string as plain text; `names` maps user and channel ids to names."""
    names = names or {}
    spans: list[str] = []

    def hold(match: re.Match[str]) -> str:
        # Code spans step aside (as private-use placeholders) so that nothing inside
        # them is read as markup, while emphasis around them (`*`x`*`) still is.
        spans.append(_unescape(match.group(1)))
        return f"\ue000{len(spans) - 1}\ue001"

    held = _CODE_SPAN.sub(hold, text)
    plain = _plain(held, names)
    # Only our own placeholders are put back (untrusted text may hold private-use characters).
    return _PLACEHOLDER.sub(lambda m: spans[i] if (i := int(m.group(1))) < len(spans) else m.group(0), plain)


_PLACEHOLDER = re.compile("\ue000(\\d+)\ue001")


def _plain(text: str, names: Mapping[str, str]) -> str:
    text = _ANGLE.sub(lambda m: _special(m.group(1), names), text)
    for pattern in _EMPHASIS:
        text = pattern.sub(r"\1", text)
    text = _EMOJI_CODE.sub(lambda m: EMOJI.get(m.group(0), m.group(0)), text)
    return _unescape(text)


def _special(inner: str, names: Mapping[str, str]) -> str:
    """`<@U…>`, `<#C…|name>`, `<!here>`, `<url|label>`, `<url>`."""
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return "@" + (names.get(target[1:]) or label or target[1:])
    if target.startswith("#"):
        return "#" + (names.get(target[1:]) or label or target[1:])
    if target.startswith("!"):
        return "@" + (label or target[1:].split("^")[0])
    return f"{label} ({target})" if label and label != target else target


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def render_text(
    message: Message,
    *,
    names: Mapping[str, str] | None = None,
    button_label: ButtonLabel | None = None,
    buttons: bool = True,
) -> str:
    """A readable text form of a message: headers underlined, buttons in brackets (none
    with `buttons=False`, where nobody can press them), the thread messages it carries
    indented below."""
    if not message.blocks:
        return mrkdwn_to_text(message.text, names)
    lines: list[str] = []
    for block in message.blocks:
        if not buttons:
            if block.get("type") == "actions":
                continue
            block = {key: value for key, value in block.items() if key != "accessory"}
        lines.extend(_block_lines(block, names or {}, button_label or _plain_button))
    for reply in message.thread_messages:
        lines.append("  ↳ in thread:")
        text = render_text(reply, names=names, button_label=button_label, buttons=buttons)
        lines.extend("    " + line for line in text.splitlines())
    return "\n".join(lines)


def _plain_button(element: Block) -> str:
    return f"[{element['text']['text']}]"


def _block_lines(block: Block, names: Mapping[str, str], button_label: ButtonLabel) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        title = str(block["text"]["text"])
        return [title, "=" * min(len(title), 60)]
    if kind == "section":
        lines = mrkdwn_to_text(str(block.get("text", {}).get("text", "")), names).splitlines()
        lines += [mrkdwn_to_text(str(f.get("text", "")), names) for f in block.get("fields", [])]
        accessory = block.get("accessory") or {}
        if accessory.get("type") == "button":  # Slack shows it beside the text: so does the terminal
            lines.append("  " + button_label(accessory))
        return lines
    if kind == "context":
        texts = (mrkdwn_to_text(str(e.get("text", "")), names) for e in block.get("elements", []))
        return ["  " + " · ".join(texts)]
    if kind == "actions":
        return [" ".join(button_label(e) for e in block.get("elements", []) if "text" in e)]
    if kind == "image":
        return [f"[picture: {block.get('alt_text', '')}]"]
    if kind == "divider":
        return ["-" * 40]
    return []
