"""Alert messages: one per subject per check with changes (pure)."""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.errors import IndicatorError
from bot.core.ids import ActionId
from bot.core.indicators import parse_indicator
from bot.core.limits import MAX_BLOCKS_MESSAGE as MAX_BLOCKS
from bot.core.limits import MAX_SECTION_TEXT, shorten_line, split_lines
from bot.core.message import Block, Message, actions, button, context, header, section
from bot.core.mrkdwn import code, escape, indicator_code, indicator_text, mention, truncate
from bot.core.observations import ADDRESS_AND_NAME_FIELDS, Change, ChangeKind, IndicatorKind
from bot.triage.model import SNOOZE_CHOICES, Triage, TriageState, format_duration

MAX_LINES_PER_DATASET = 12
_MINUTE = timedelta(minutes=1)
MAX_PIVOT_BUTTONS = 10
SECTION_LIMIT = MAX_SECTION_TEXT
_KIND_MARK = {ChangeKind.ADDED: "➕ added", ChangeKind.REMOVED: "➖ removed", ChangeKind.CHANGED: "✏️ changed"}


@dataclass(frozen=True)
class AlertStatus:
    """Where the team is with an alert, as its message shows it (read back from storage
    when the message is edited in place)."""

    triage: Triage = dataclasses.field(default_factory=Triage)
    follow_up_count: int = 0  # follow-ups posted in the thread
    follow_up_changes: int = 0
    suppressed_until: datetime | None = None  # of the values marked false positive
    snoozed_until: datetime | None = None
    snoozed_by: str | None = None
    # The indicator's story as of the alert (PassiveTotal-style): earlier alerts, the
    # datasets that alerted in the day before, and monitored indicators sharing a new value.
    previous_alerts: int | None = None  # None: not known, nothing shown
    last_alert_before: datetime | None = None
    datasets_day_before: tuple[str, ...] = ()
    shared: tuple[tuple[str, str], ...] = ()
    names_on_host: int | None = None  # set: a shared host, its new names summarised


SHARED_HOST_LINES = 5
# An alert with more new values than this summarises them: no pivot per value, but one
# "All N values" action, and at most SUMMARY_BUTTONS buttons in all.
SUMMARY_THRESHOLD = 5
SUMMARY_BUTTONS = 8


def build_alert_message(
    indicator: str,
    kind: IndicatorKind,
    changes: Sequence[Change],
    *,
    detected_at: datetime,
    status: AlertStatus | None = None,
    follow_up: bool = False,
) -> Message:
    """The channel alert: what changed per dataset, buttons to pivot on what is new, and
    its triage (who took it, who closed it and why) with the buttons that still apply.
    A `follow_up` goes in an open alert's thread: its changes and pivots, no triage."""
    status = status if status is not None else AlertStatus()
    by_dataset: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        by_dataset[change.dataset].append(change)
    pivots = pivot_candidates(changes, exclude=indicator)
    summary = ", ".join(f"{dataset} ({len(items)})" for dataset, items in sorted(by_dataset.items()))
    plural = "s" * (len(changes) != 1)
    blocks: list[Block] = [
        header(f"{'Follow-up' if follow_up else 'Change'} on {indicator_text(indicator, defanged=True)}"),
        section(
            shorten_line(
                f"*{indicator_code(indicator)}* ({kind.value}): {len(changes)} change{plural}"
                f" in {escape(summary)}",
                SECTION_LIMIT,
            )
        ),
    ]
    overflowed = False
    shared_host = status.names_on_host is not None and kind is IndicatorKind.IP
    if shared_host:
        shared, overflowed = _shared_host_block(indicator, changes, status.names_on_host or 0)
        blocks.append(shared)
    for dataset, items in sorted(by_dataset.items()):
        text, shown = _dataset_section(dataset, items, limit=SHARED_HOST_LINES if shared_host else None)
        blocks.append(section(text))
        overflowed |= shown < len(items)
    blocks.append(_detected_block(changes, detected_at))
    summarised = shared_host or len(pivots) > SUMMARY_THRESHOLD
    if summarised and pivots:
        hint = f"{len(pivots)} new values: pivot from the list in the thread"
        blocks.append(context(f"{hint}, or press *All {len(pivots)} values*"))
        overflowed = True
    elif pivots:
        blocks += _pivot_blocks(pivots, status)
    story = _story(status, detected_at)
    if story:
        blocks.append(context(story))
    blocks += _status_blocks(status, detected_at)
    if status.triage.state.closed:
        # Closed: nothing left to do on it; the buttons give way to who closed it and why.
        blocks = [block for block in blocks if block.get("type") != "actions"]
    elif not follow_up:
        controls = _controls(indicator, sorted(by_dataset), status)
        if summarised:
            controls = _summary_controls(controls, indicator, len(pivots) or len(changes), detected_at)
        blocks.append(actions(controls, block_id="controls"))
    blocks = blocks[:MAX_BLOCKS]
    fallback = truncate(
        f"Watchpost: {len(changes)} change{plural} on {indicator_text(indicator)} ({summary})"
        + (f"; new: {', '.join(pivots[:5])}" if pivots else ""),
        3000,
    )
    thread = build_change_list_messages(indicator, changes) if overflowed else []
    return Message(escape(fallback), blocks, thread, label="alert")


def _shared_host_block(indicator: str, changes: Sequence[Change], names_on_host: int) -> tuple[Block, bool]:
    """The shared host's line (its new names make one alert) and whether names overflow to
    the thread."""
    new_names = [c for c in changes if c.field == "domain" and c.kind is ChangeKind.ADDED]
    sample = ", ".join(code(c.value) for c in new_names[:SHARED_HOST_LINES])
    block = section(
        f":office: *Shared host*: {names_on_host:,} names are known on {code(indicator)}, "
        f"so its {len(new_names)} new name{'s' * (len(new_names) != 1)} make one alert"
        + (f": {sample}" + (", …" if len(new_names) > SHARED_HOST_LINES else "") if sample else "")
        + ". Full list in the thread; mark it false positive if it is hosting or a CDN."
    )
    return block, bool(new_names)


def _detected_block(changes: Sequence[Change], detected_at: datetime) -> Block:
    """When it was detected, first seen (when a source dates it earlier), and the sources."""
    sources = sorted({change.source for change in changes if change.source})
    # First seen before it was detected: a source that dates what it saw saw it earlier.
    first_seen = min(
        (c.first_seen for c in changes if c.first_seen is not None and c.kind is not ChangeKind.REMOVED),
        default=detected_at,
    )
    earlier = first_seen < detected_at - _MINUTE
    return context(
        f"Detected {detected_at:%Y-%m-%d %H:%M} UTC"
        + (f" · first seen {first_seen:%Y-%m-%d %H:%M} UTC" if earlier else "")
        + (f" · sources: {escape(truncate(', '.join(sources), 500))}" if sources else "")
    )


def _controls(indicator: str, datasets: Sequence[str], status: AlertStatus) -> list[Block]:
    """The triage buttons that still apply, then mute and accept."""
    controls: list[Block] = []
    if status.triage.state is TriageState.OPEN:
        controls.append(button("Acknowledge", ActionId.ACKNOWLEDGE.value, indicator, style="primary"))
    controls.append(button("False positive", ActionId.FALSE_POSITIVE.value, indicator, style="danger"))
    for i, duration in enumerate(SNOOZE_CHOICES):
        days = duration.days
        label = f"Snooze {days} day{'s' * (days != 1)}" if i == 0 else f"{days} days"
        action = ActionId.SNOOZE.value if i == 0 else f"{ActionId.SNOOZE.value}_{days}d"
        controls.append(button(label, action, format_duration(duration)))
    controls += [
        button(f"Mute {dataset}", ActionId.MUTE.numbered(i), json.dumps({"i": indicator, "d": dataset}))
        for i, dataset in enumerate(datasets)
    ]
    controls.append(button("Accept as baseline", ActionId.ACCEPT.value, indicator))
    return controls


def _pivot_blocks(pivots: Sequence[str], status: AlertStatus) -> list[Block]:
    """An Investigate and a Monitor button per new value of an alert of a few values (a
    summary has none); no Monitor for a value that is monitored itself."""
    monitored = {value for other, value in status.shared if other == value}
    investigate = [
        button(f"Investigate {p}", ActionId.INVESTIGATE.numbered(i), p) for i, p in enumerate(pivots)
    ]
    monitor = [
        button(f"Monitor {p}", ActionId.MONITOR.numbered(i), p)
        for i, p in enumerate(pivots)
        if p not in monitored  # already monitored: nothing to press
    ]
    blocks = [actions(investigate, block_id="pivots")]
    if monitor:
        blocks.append(actions(monitor, block_id="monitor"))
    return blocks


def _summary_controls(
    controls: list[Block], indicator: str, values: int, detected_at: datetime
) -> list[Block]:
    """A summary's buttons: "All N values" and the triage buttons that matter most, at most
    SUMMARY_BUTTONS in all (a person acts on the whole, and pivots from the list)."""
    everything = button(
        f"All {values} values",
        ActionId.ALL_VALUES.value,
        json.dumps({"i": indicator, "d": detected_at.date().isoformat()}),
    )
    rank = [
        ActionId.ACKNOWLEDGE.value,
        ActionId.FALSE_POSITIVE.value,
        ActionId.SNOOZE.value,
        ActionId.ACCEPT.value,
        f"{ActionId.SNOOZE.value}_7d",
        ActionId.MUTE.numbered(0),
        f"{ActionId.SNOOZE.value}_30d",
    ]
    order = {action: i for i, action in enumerate(rank)}
    kept = sorted(controls, key=lambda b: order.get(str(b.get("action_id")), len(rank)))
    chosen = {id(b) for b in kept[: SUMMARY_BUTTONS - 1]}
    return [everything, *(b for b in controls if id(b) in chosen)]


def _story(status: AlertStatus, detected_at: datetime) -> str:
    """`2 earlier alerts, the last 3 days before · in the day before: whois · shares …`"""
    if status.previous_alerts is None:
        return ""
    parts = []
    n = status.previous_alerts
    if n == 0 or status.last_alert_before is None:
        parts.append(":new: first alert on this indicator")
    else:
        days = (detected_at.date() - status.last_alert_before.date()).days
        when = "the same day" if days <= 0 else ("the day before" if days == 1 else f"{days} days before")
        parts.append(f"{n} earlier alert{'s' * (n != 1)}, the last {when}")
    if status.datasets_day_before:
        parts.append(f"alerted in the day before: {escape(', '.join(status.datasets_day_before))}")
    if status.shared:
        shown = ", ".join(
            f"{code(value)} is monitored itself" if other == value else f"{code(value)} with {code(other)}"
            for other, value in status.shared
        )
        parts.append(f":link: shares {shown}")
    return " · ".join(parts)


def _status_blocks(status: AlertStatus, detected_at: datetime) -> list[Block]:
    """Who took or closed the alert, what the thread holds, whether it is snoozed."""
    lines: list[str] = []
    triage = status.triage
    when = f"{triage.at:%Y-%m-%d %H:%M} UTC" if triage.at else ""
    who = mention(triage.by) if triage.by else "someone"
    if triage.state is TriageState.ACKNOWLEDGED:
        lines.append(f":eyes: Acknowledged by {who} on {when}")
    elif triage.state is TriageState.EXPECTED:
        lines.append(f":white_check_mark: Accepted as the new baseline by {who} on {when} (expected)")
    elif triage.state is TriageState.FALSE_POSITIVE:
        reason = f": {escape(triage.reason)}" if triage.reason else ""
        until = (
            f" · its values are suppressed here until {status.suppressed_until:%Y-%m-%d %H:%M} UTC"
            " (see `/monitor suppressions`)"
            if status.suppressed_until
            else ""
        )
        lines.append(f":no_entry_sign: False positive{reason}, marked by {who} on {when}{until}")
    if status.follow_up_count:
        n = status.follow_up_changes
        lines.append(f":thread: {n} change{'s' * (n != 1)} since {detected_at:%H:%M} UTC, in the thread")
    if status.snoozed_until is not None:
        by = f" by {mention(status.snoozed_by)}" if status.snoozed_by else ""
        lines.append(f":zzz: This monitor is snoozed{by} until {status.snoozed_until:%Y-%m-%d %H:%M} UTC")
    return [context(*lines)] if lines else []


def _dataset_section(dataset: str, items: Sequence[Change], *, limit: int | None = None) -> tuple[str, int]:
    """A dataset's changes as lines, as many as fit; returns the text and how many it shows."""
    title = f"*{escape(truncate(dataset, 100))}*"
    lines: list[str] = []
    for change in items[: limit or MAX_LINES_PER_DATASET]:
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
