"""Replies to imports of indicators (`/monitor misp`): what is monitored now, what was left
out and why, and, when an item cannot be read, every such item (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.commands.messages.replies import _listed, _sections_message, build_error_message
from bot.core.indicators import escape_in_code
from bot.core.limits import fallback_text
from bot.core.message import Message
from bot.core.mrkdwn import code, escape, indicator_code, truncate
from bot.imports.model import ImportItem, IndicatorImport, Source

MAX_ITEMS_SHOWN = 40  # left-out items or errors listed one per line; past it, a count


def build_imported_message(
    imported: IndicatorImport, added: Sequence[tuple[str, bool]], *, again: str = ""
) -> Message:
    """`added`: (indicator, new for this channel). `again`: the command that also reads the
    attributes not marked for detection (`/monitor misp 42 all`)."""
    title = f"*{escape(imported.title)}*"
    tagged = f" Tagged {code(imported.tag)}." if imported.tag else ""
    new = [indicator for indicator, is_new in added if is_new]
    old = [indicator for indicator, is_new in added if not is_new]
    lines: list[str] = []
    if new:
        lines += _listed(
            f"{title}: now monitoring",
            new,
            f"in this channel.{tagged} Their baselines come with the next scheduled check.",
        )
    if old:
        lines += _listed(f"{title}: already monitored here{' (tag added)' if tagged else ''}:", old, ".")
    if not added:
        lines.append(f"{title}: nothing to monitor in it.")
    left_out = imported.left_out
    if left_out:
        lines.append(f"Left out ({len(left_out)}):")
        lines += [_item_line(item, with_item=False) for item in left_out[:MAX_ITEMS_SHOWN]]
        if len(left_out) > MAX_ITEMS_SHOWN:
            lines.append(f"…and {len(left_out) - MAX_ITEMS_SHOWN} more")
        lines.append("To monitor one of them anyway: `/monitor <value>`.")
    if imported.not_for_detection:
        skipped = imported.not_for_detection
        plural = "s" * (skipped != 1)
        tail = f": `{escape(again)}` reads them too." if again else "."
        lines.append(
            f"{skipped} domain, IP or URL attribute{plural} not marked for detection (`to_ids`) "
            f"{'were' if plural else 'was'} not read{tail}"
        )
    message = _sections_message(lines)
    return Message(fallback_text(" ".join(lines[:3])), message.blocks)


def build_import_refused_message(imported: IndicatorImport) -> Message:
    """Items that cannot be read: each named with why, and nothing was changed."""
    errors = imported.errors
    plural = "s" * (len(errors) != 1)
    lines = [
        f"{len(errors)} item{plural} of {escape(imported.title)} cannot be read, so nothing was monitored:"
    ]
    lines += [_item_line(item, with_item=True) for item in errors[:MAX_ITEMS_SHOWN]]
    if len(errors) > MAX_ITEMS_SHOWN:
        lines.append(f"…and {len(errors) - MAX_ITEMS_SHOWN} more")
    if imported.source is Source.MISP:
        lines.append("Correct them in MISP (or take them out of the event), then import it again.")
    return build_error_message("\n".join(lines))


def _item_line(item: ImportItem, *, with_item: bool) -> str:
    """`• `value`: reason`; errors also name the item (an attribute, a STIX object). A
    reason is safe as it is (bot/imports/model.py escapes what it quotes); one that starts
    by quoting the value already shows it."""
    where = f"{_quoted(item.item)}: " if with_item else ""
    if item.reason.startswith("`"):
        return f"• {where}{truncate(item.reason, 600)}"
    shown = indicator_code(item.value) if item.accepted else _quoted(item.value)
    return f"• {where}{shown}: {truncate(item.reason, 600)}"


def _quoted(text: str, limit: int = 120) -> str:
    """Text from the document in backticks: one line, cut, escaped, controls written out."""
    return f"`{escape_in_code(truncate(' '.join(text.split()), limit))}`"
