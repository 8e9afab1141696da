"""Alert messages: one per subject per check with changes (pure)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from bot.errors import IndicatorError
from bot.model.indicators import parse_indicator
from bot.model.observations import ADDRESS_AND_NAME_FIELDS, Change, ChangeKind, IndicatorKind
from bot.render.ids import ActionId
from bot.render.limits import MAX_BLOCKS_MESSAGE as MAX_BLOCKS
from bot.render.limits import MAX_SECTION_TEXT, shorten_line, split_lines
from bot.render.messages import Block, Message, actions, button, context, header, section
from bot.render.mrkdwn import code, escape, indicator_code, indicator_text, mention, truncate

MAX_LINES_PER_DATASET = 12
_MINUTE = timedelta(minutes=1)
MAX_PIVOT_BUTTONS = 10
SECTION_LIMIT = MAX_SECTION_TEXT
_KIND_MARK = {ChangeKind.ADDED: "➕ added", ChangeKind.REMOVED: "➖ removed", ChangeKind.CHANGED: "✏️ changed"}


def build_alert_message(
    indicator: str, kind: IndicatorKind, changes: Sequence[Change], *, detected_at: datetime
) -> Message:
    """The channel alert: what changed per dataset, and buttons to pivot on what is new."""
    by_dataset: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        by_dataset[change.dataset].append(change)
    pivots = pivot_candidates(changes, exclude=indicator)
    summary = ", ".join(f"{dataset} ({len(items)})" for dataset, items in sorted(by_dataset.items()))
    plural = "s" * (len(changes) != 1)
    blocks: list[Block] = [
        header(f"Change on {indicator_text(indicator, defanged=True)}"),
        section(
            shorten_line(
                f"*{indicator_code(indicator)}* ({kind.value}): {len(changes)} change{plural}"
                f" in {escape(summary)}",
                SECTION_LIMIT,
            )
        ),
    ]
    overflowed = False
    for dataset, items in sorted(by_dataset.items()):
        text, shown = _dataset_section(dataset, items)
        blocks.append(section(text))
        overflowed |= shown < len(items)
    sources = sorted({change.source for change in changes if change.source})
    # First seen before it was detected: a source that dates what it saw saw it earlier.
    first_seen = min(
        (c.first_seen for c in changes if c.first_seen is not None and c.kind is not ChangeKind.REMOVED),
        default=detected_at,
    )
    earlier = first_seen < detected_at - _MINUTE
    blocks.append(
        context(
            f"Detected {detected_at:%Y-%m-%d %H:%M} UTC"
            + (f" · first seen {first_seen:%Y-%m-%d %H:%M} UTC" if earlier else "")
            + (f" · sources: {escape(truncate(', '.join(sources), 500))}" if sources else "")
        )
    )
    if pivots:
        shown_pivots = pivots[:MAX_PIVOT_BUTTONS]
        blocks.append(
            actions(
                [
                    button(f"Investigate {p}", ActionId.INVESTIGATE.numbered(i), p)
                    for i, p in enumerate(shown_pivots)
                ],
                block_id="pivots",
            )
        )
        blocks.append(
            actions(
                [button(f"Monitor {p}", ActionId.MONITOR.numbered(i), p) for i, p in enumerate(shown_pivots)],
                block_id="monitor",
            )
        )
        if len(pivots) > len(shown_pivots):
            overflowed = True
            blocks.append(
                context(
                    f"…and {len(pivots) - len(shown_pivots)} more new indicators: full list in the thread"
                )
            )
    controls = [
        button(f"Mute {dataset}", ActionId.MUTE.numbered(i), json.dumps({"i": indicator, "d": dataset}))
        for i, dataset in enumerate(sorted(by_dataset))
    ]
    controls.append(button("Accept as baseline", ActionId.ACCEPT.value, indicator))
    blocks.append(actions(controls, block_id="controls"))
    fallback = truncate(
        f"Watchpost: {len(changes)} change{plural} on {indicator_text(indicator)} ({summary})"
        + (f"; new: {', '.join(pivots[:5])}" if pivots else ""),
        3000,
    )
    thread = build_change_list_messages(indicator, changes) if overflowed else []
    return Message(escape(fallback), blocks, thread, label="alert")


def _dataset_section(dataset: str, items: Sequence[Change]) -> tuple[str, int]:
    """A dataset's changes as lines, as many as fit; returns the text and how many it shows."""
    title = f"*{escape(truncate(dataset, 100))}*"
    lines: list[str] = []
    for change in items[:MAX_LINES_PER_DATASET]:
        line = change_line(change)
        if len(title) + sum(len(x) + 1 for x in lines) + len(line) + 80 > SECTION_LIMIT:
            break
        lines.append(line)
    rest = len(items) - len(lines)
    if rest:
        lines.append(f"…and {rest} more: full list in the thread")
    return title + "\n" + "\n".join(lines), len(items) - rest


def change_line(change: Change) -> str:
    """One change as one mrkdwn line, every untrusted value escaped inside code spans."""
    mark = _KIND_MARK[change.kind]
    if change.kind is ChangeKind.CHANGED:
        detail = f"{code(change.old_value or '')} → {code(change.new_value or '')}"
    else:
        detail = code(change.value)
    extra = ""
    if change.kind is ChangeKind.REMOVED and change.last_seen is not None:
        extra = f" (last seen {change.last_seen:%Y-%m-%d %H:%M})"
    elif change.source and change.source != "dns":
        extra = f" (via {escape(truncate(change.source, 100))})"
    return f"{mark} {code(change.field, limit=64)} {detail}{extra}"


def build_change_list_messages(indicator: str, changes: Sequence[Change]) -> list[Message]:
    """Every change, in as many thread messages as it takes to stay within Slack's limits."""
    lines = [f"{escape(truncate(c.dataset, 100))}: {change_line(c)}" for c in changes]
    sections = [section(part) for part in split_lines(lines)]
    pages = [sections[start : start + 45] for start in range(0, len(sections), 45)]
    shown = escape(truncate(indicator, 300))
    return [
        Message(
            f"All changes on {shown}" + (" (continued)" if index < len(pages) - 1 else ""),
            page,
            label="change list",
        )
        for index, page in enumerate(pages)
    ]


def pivot_candidates(changes: Sequence[Change], *, exclude: str = "") -> list[str]:
    """Newly observed domains and IPs worth a button, in order, without duplicates."""
    return pivot_values(
        ((c.field, c.new_value) for c in changes if c.kind is not ChangeKind.REMOVED and c.new_value),
        exclude=exclude,
    )


def pivot_values(facts: Iterable[tuple[str, str]], *, exclude: str = "") -> list[str]:
    """The domains and IPs among (field, value) pairs, in order, without duplicates."""
    seen: dict[str, None] = {}
    for field, raw in facts:
        if field not in ADDRESS_AND_NAME_FIELDS or not raw:
            continue
        token = raw.split()[-1] if field == "MX" else raw
        try:
            value = parse_indicator(token).value
        except IndicatorError:
            continue
        if value != exclude:
            seen.setdefault(value, None)
    return list(seen)


def build_accepted_alert_message(original: Message, *, user_id: str, accepted_at: datetime) -> Message:
    """The alert once someone accepted its changes as the new baseline: the same content,
    its buttons replaced by who accepted it and when."""
    blocks = [block for block in original.blocks if block.get("type") != "actions"]
    blocks = blocks[: MAX_BLOCKS - 1]
    blocks.append(
        context(
            f":white_check_mark: Accepted as the new baseline by {mention(user_id)}"
            f" on {accepted_at:%Y-%m-%d %H:%M} UTC"
        )
    )
    return Message(original.text or "Watchpost alert (accepted)", blocks, label="alert")
