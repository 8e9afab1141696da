"""Replies to /monitor commands (pure). Shown only to the user who typed the command."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import NamedTuple

from bot.model.observations import Change, FactState, FactStatus
from bot.render.alerts import change_line
from bot.render.limits import MAX_BLOCKS_MESSAGE
from bot.render.messages import Block, Message, context, header, section
from bot.render.mrkdwn import code, defang, escape, mention, truncate

MAX_FACTS_SHOWN = 8
SECTION_LIMIT = 3000

HELP = """*Watchpost* watches domains and IPs and tells this channel when they change.
• `/monitor <indicator> [<indicator> …]`: monitor domains, IPs or URLs (defanged is fine: `evil[.]com`, `hxxps://…`)
• `/monitor list`: what this channel monitors
• `/monitor status <indicator>`: what is known now, per dataset
• `/monitor history <indicator> [day=YYYY-MM-DD] [dataset=NAME]`: what changed, newest first
• `/monitor check <indicator>` or `/monitor check all`: check now instead of waiting
• `/monitor mute <indicator> <dataset>`: silence one dataset's alerts here (`unmute` to undo)
• `/monitor remove <indicator> [<indicator> …]` or `/unmonitor <indicator>`: stop monitoring
• `/monitor digest`: post today's digest now
• `/monitor health`: how every data source is doing (requests, quotas, errors, latency)
• `/monitor help`: this message
Datasets: `resolutions`, `dns_records`, `whois`, `certificates`, `subdomains`, `services`."""


def build_help_message() -> Message:
    return Message(
        "Watchpost help: /monitor <indicator>, list, status, history, check, mute, unmute, remove, "
        "digest, health",
        [section(HELP)],
    )


def build_error_message(text: str) -> Message:
    """A user error. `text` is ours (it may quote the user's input, already escaped)."""
    return Message(text, [section(f":warning: {text}")])


def build_added_message(added: Sequence[tuple[str, bool]]) -> Message:
    """`added`: (indicator, new for this channel)."""
    new = [indicator for indicator, is_new in added if is_new]
    old = [indicator for indicator, is_new in added if not is_new]
    parts = []
    if new:
        parts.append(f"Now monitoring {_list(new)} for this channel. Capturing the baseline…")
    if old:
        parts.append(f"Already monitored here: {_list(old)}.")
    text = " ".join(parts)
    return Message(text, [section(text)])


def build_baseline_message(indicator: str, datasets: Sequence[DatasetView]) -> Message:
    """What the baseline holds per dataset, right after a monitor is set."""
    return _state_message(f"Baseline for {indicator}", indicator, datasets)


def build_status_message(
    indicator: str,
    datasets: Sequence[DatasetView],
    monitored_since: datetime,
    *,
    plans: Sequence[str] = (),
) -> Message:
    """`plans`: one line per quota-limited source, how often its budget lets it be asked
    ("passive DNS every 11 h: Mnemonic allows 1,000 a day for 460 monitors")."""
    message = _state_message(f"Status of {indicator}", indicator, datasets)
    blocks = [*message.blocks[:47]]
    if plans:
        blocks.append(context(escape("; ".join(plans))[:2900]))
    blocks.append(context(f"Monitored here since {monitored_since:%Y-%m-%d %H:%M} UTC"))
    return Message(message.text, blocks)


class DatasetView:
    """What a reply shows of a dataset: its open facts and whether it is fresh."""

    def __init__(
        self,
        name: str,
        facts: Sequence[FactState],
        *,
        stale: bool,
        error: str | None,
        has_baseline: bool,
        pending: Sequence[tuple[str, datetime]] = (),
    ) -> None:
        self.name = name
        self.facts = [f for f in facts if f.status is not FactStatus.ADDING]
        self.stale = stale
        self.error = error
        self.has_baseline = has_baseline
        # Sources waiting for a quota slot for this dataset: (source, when one is expected).
        self.pending = list(pending)


def _state_message(title: str, indicator: str, datasets: Sequence[DatasetView]) -> Message:
    blocks: list[Block] = [header(title[:150])]
    summary = []
    for dataset in datasets:
        waiting = ", ".join(f"{source} at {at:%Y-%m-%d %H:%M} UTC" for source, at in dataset.pending)
        if not dataset.has_baseline and dataset.pending:
            blocks.append(
                section(
                    f"*{dataset.name}*: baseline pending, waiting for a quota slot: expected from {waiting}"
                )
            )
            summary.append(f"{dataset.name}: pending")
            continue
        if not dataset.has_baseline:
            reason = f": {escape(dataset.error)}" if dataset.error else ""
            blocks.append(section(f"*{dataset.name}*: no data yet{reason[:500]} (retried on the next check)"))
            summary.append(f"{dataset.name}: pending")
            continue
        lines = [code(f"{f.field} {f.value}", limit=200) for f in dataset.facts[:MAX_FACTS_SHOWN]]
        more = len(dataset.facts) - MAX_FACTS_SHOWN
        if more > 0:
            lines.append(f"…and {more} more")
        stale = f" :hourglass: stale ({escape((dataset.error or '')[:300])})" if dataset.stale else ""
        if waiting:
            stale += f" · waiting for a quota slot: {waiting}"
        body = "\n".join(lines) if lines else "_nothing observed_"
        blocks.append(section(f"*{dataset.name}* ({len(dataset.facts)}){stale}\n{body}"[:SECTION_LIMIT]))
        summary.append(f"{dataset.name}: {len(dataset.facts)}")
    if not datasets:
        blocks.append(section("_No dataset has reported yet._"))
    return Message(escape(f"{title}: " + ", ".join(summary)), blocks[:50])


def build_removed_message(indicators: Sequence[str]) -> Message:
    text = f"Stopped monitoring {_list(indicators)} in this channel."
    return Message(text, [section(text)])


def build_list_message(
    rows: Sequence[tuple[str, str, datetime | None, Sequence[str]] | ListRow],
) -> Message:
    """rows: (indicator, kind, last checked, stale datasets), or ListRow with mutes."""
    if not rows:
        text = "This channel monitors nothing yet. Start with `/monitor example.com`."
        return Message(text, [section(text)])
    lines = []
    for row in rows:
        indicator, kind, checked, stale = row[:4]
        muted = row.muted if isinstance(row, ListRow) else ()
        when = f"checked {checked:%Y-%m-%d %H:%M} UTC" if checked else "not checked yet"
        warn = f" · :hourglass: stale: {', '.join(stale)}" if stale else ""
        quiet = f" · :no_bell: muted: {', '.join(muted)}" if muted else ""
        lines.append(f"• {code(indicator)} ({kind}) · {when}{warn}{quiet}")
    blocks: list[Block] = [header(f"Monitored here: {len(rows)}")]
    chunk: list[str] = []
    shown = 0
    for line in lines:
        if sum(len(x) + 1 for x in chunk) + len(line) > SECTION_LIMIT - 50:
            blocks.append(section("\n".join(chunk)))
            shown += len(chunk)
            chunk = []
            if len(blocks) >= 48:  # keep room for the "more" line within 50 blocks
                break
        chunk.append(line)
    else:
        blocks.append(section("\n".join(chunk)))
        shown += len(chunk)
    if shown < len(rows):
        blocks.append(context(f"…and {len(rows) - shown} more"))
    return Message(f"This channel monitors {len(rows)} indicators.", blocks)


def build_check_message(indicator: str, changes: Sequence[Change], *, failed: Sequence[str]) -> Message:
    if changes:
        lines = [change_line(c) for c in changes[:15]]
        if len(changes) > 15:
            lines.append(f"…and {len(changes) - 15} more")
        plural = "s" * (len(changes) != 1)
        text = f"Checked {indicator}: {len(changes)} change{plural} (alert sent to the channel)"
        body = "\n".join(lines)
    else:
        text = f"Checked {indicator}: no change."
        body = ""
    if failed:
        text += f" Could not reach: {', '.join(failed)} (kept the last known state)."
    blocks = [section(escape(text))]
    if body:
        blocks.append(section(body[:SECTION_LIMIT]))
    return Message(escape(text), blocks)


def _list(items: Sequence[str]) -> str:
    return ", ".join(code(item) for item in items)


class ListRow(NamedTuple):
    indicator: str
    kind: str
    last_checked_at: datetime | None
    stale: Sequence[str]
    muted: Sequence[str] = ()


MAX_HISTORY_LINES = 40


def build_history_message(
    indicator: str,
    records: Sequence[tuple[datetime, Change]],
    *,
    day: date | None,
    dataset: str | None,
    limited: bool,
) -> Message:
    """Changes of one indicator, newest first: (detected at, change) pairs."""
    scope = " ".join(
        part for part in (f"on {day.isoformat()}" if day else "", f"in {dataset}" if dataset else "") if part
    )
    title = f"History of {indicator}" + (f" {scope}" if scope else "")
    shown_title = f"History of {defang(indicator)}" + (f" {scope}" if scope else "")
    if not records:
        text = f"No changes recorded for {code(indicator)}" + (f" {scope}" if scope else "") + "."
        return Message(escape(f"{title}: no changes"), [header(shown_title), section(text)])
    lines = [
        f"{at:%Y-%m-%d %H:%M} · {escape(change.dataset)}: {change_line(change)}"
        for at, change in records[:MAX_HISTORY_LINES]
    ]
    more = len(records) - MAX_HISTORY_LINES
    blocks: list[Block] = [header(shown_title)]
    chunk: list[str] = []
    for line in lines:
        if sum(len(x) + 1 for x in chunk) + len(line) > SECTION_LIMIT - 50:
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    blocks.append(section("\n".join(chunk)))
    notes = []
    if more > 0:
        notes.append(f"…and {more} older changes")
    if limited:
        notes.append("older changes not shown: narrow it with `day=` or `dataset=`")
    notes.append("times in UTC")
    blocks.append(context(" · ".join(notes)))
    plural = "s" * (len(records) != 1)
    return Message(escape(f"{title}: {len(records)} change{plural}"), blocks)


def build_muted_message(indicator: str, dataset: str, *, muted: bool, user_id: str) -> Message:
    """Said in the channel, so everyone sees who silenced what."""
    if muted:
        text = (
            f"{mention(user_id)} muted {code(dataset)} alerts for {code(indicator)} in this channel. "
            f"Undo with `/monitor unmute {indicator} {dataset}`."
        )
    else:
        text = f"{mention(user_id)} unmuted {code(dataset)} alerts for {code(indicator)} in this channel."
    verb = "muted" if muted else "unmuted"
    return Message(escape(f"{dataset} alerts for {indicator} {verb}"), [section(text)])


def build_notice_message(text: str) -> Message:
    """A short notice (progress, confirmation); `text` is plain and gets escaped."""
    shown = escape(truncate(text, 2900))
    return Message(shown, [section(shown)])


def fit_responses(messages: Sequence[Message], limit: int) -> list[Message]:
    """At most `limit` messages: Slack's response_url takes five posts. Whatever does not
    fit is merged into the last one, cut to Slack's block limit with a note."""
    if len(messages) <= limit:
        return list(messages)
    kept = list(messages[: limit - 1])
    rest = messages[limit - 1 :]
    blocks: list[Block] = []
    for message in rest:
        if len(blocks) + len(message.blocks) > MAX_BLOCKS_MESSAGE - 2:
            break
        blocks.extend(message.blocks)
    shown = 0
    total = 0
    for message in rest:
        total += len(message.blocks)
        if total > len(blocks):
            break
        shown += 1
    if shown < len(rest):
        blocks.append(context(f"…and {len(rest) - shown} more: see `/monitor status <indicator>`"))
    text = truncate(" ".join(m.text for m in rest), 3000)
    kept.append(Message(text, blocks))
    return kept
