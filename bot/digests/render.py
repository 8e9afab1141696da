"""The digest as a Slack parent message with per-indicator notes for its thread, and as
the text of the digest email (pure). The parent summarises; the CSVs carry everything."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.message import Block, Message, context, header, section
from bot.core.mrkdwn import code, defang, escape, truncate
from bot.core.observations import ChangeKind
from bot.digests.build import Digest, IndicatorNote, SourceHealth

SECTION_LIMIT = 3000
MAX_FIELDS = 10
MAX_TOP_INDICATORS = 5
MAX_HEALTH_LINES = 10
MAX_NOTES = 200  # indicators with a note; the rest are in the CSVs
NOTE_BLOCKS_PER_MESSAGE = 45
_MARK = {ChangeKind.ADDED: "➕", ChangeKind.REMOVED: "➖", ChangeKind.CHANGED: "✏️"}


def build_digest_message(digest: Digest) -> Message:
    """The parent message (a handful of blocks whatever the size of the day) with the
    per-indicator notes as its `thread_messages`."""
    window, tz = digest.window, digest.window.tz
    blocks: list[Block] = [header(_title(digest))]
    blocks.append(section(f"{_headline(digest, markup=True)} {_span(digest)}."))
    triage = _triage_line(digest)
    if triage:
        blocks.append(section(triage))
    fields = [
        f"*{escape(d.dataset)}*\n{_count(d.changes, 'change')} on {_count(d.indicators, 'indicator')}\n"
        f"➕ {d.added}  ➖ {d.removed}  ✏️ {d.changed}"
        for d in digest.datasets
    ]
    for start in range(0, len(fields), MAX_FIELDS):
        blocks.append({"type": "section", "fields": [_mrkdwn(f) for f in fields[start : start + MAX_FIELDS]]})
    if digest.notes:
        top = " · ".join(
            f"{code(n.indicator, limit=80)} {n.changes}" for n in digest.notes[:MAX_TOP_INDICATORS]
        )
        blocks.append(section(truncate(f"*Most changes:* {top}", SECTION_LIMIT)))
    blocks.append(section(_bounded(["*Source health*", *_health_lines(digest, markup=True)])))
    thread = []
    if digest.lookalikes:
        quiet = (
            f", {digest.lookalikes_silenced} not alerted (muted or snoozed watches)"
            if digest.lookalikes_silenced
            else ""
        )
        blocks.insert(
            2, section(f"*Lookalikes:* {_count(digest.lookalikes, 'new finding')}{quiet} (`lookalikes.csv`)")
        )
    if digest.files:
        thread.append(f"{_count(len(digest.files), 'CSV file')} (one per dataset)")
    if digest.notes:
        thread.append("a note per indicator")
    where = f"In the thread: {' and '.join(thread)} · " if thread else ""
    blocks.append(context(f"{where}times in {escape(tz.key)}"))
    day = window.day.isoformat() if window.day else f"{window.end.astimezone(tz):%Y-%m-%d %H:%M}"
    unhealthy = len(digest.sources)
    text = (
        f"Watchpost digest {day}: {_headline(digest, markup=False)}"
        + (f"; {_count(digest.lookalikes, 'lookalike')}" if digest.lookalikes else "")
        + (f"; {_count(unhealthy, 'source')} failing" if unhealthy else "")
    )
    return Message(escape(text), blocks, build_note_messages(digest), label="digest")


def build_note_messages(digest: Digest) -> list[Message]:
    """A short note per indicator that changed, in as few thread messages as fit."""
    lines = [note_line(note, digest.window.tz) for note in digest.notes[:MAX_NOTES]]
    if len(digest.notes) > MAX_NOTES:
        rest = len(digest.notes) - MAX_NOTES
        lines.append(f"…and {_count(rest, 'more indicator')}: every change is in the CSV files.")
    messages: list[Message] = []
    blocks: list[Block] = []
    chunk: list[str] = []
    for line in lines:
        if chunk and sum(len(x) + 1 for x in chunk) + len(line) > SECTION_LIMIT - 100:
            blocks.append(section("\n".join(chunk)))
            chunk = []
            if len(blocks) == NOTE_BLOCKS_PER_MESSAGE:
                messages.append(Message("Per-indicator notes", blocks, label="digest notes"))
                blocks = []
        chunk.append(line)
    if chunk:
        blocks.append(section("\n".join(chunk)))
    if blocks:
        messages.append(Message("Per-indicator notes", blocks, label="digest notes"))
    return messages


def note_line(note: IndicatorNote, tz: ZoneInfo) -> str:
    """`evil.com` (domain): 3 changes · resolutions ➕2 ➖1 · new `a.evil.com`, … · 02:10–07:40"""
    datasets = " · ".join(
        escape(name) + "".join(f" {mark}{n}" for mark, n in zip(_MARK.values(), counts, strict=True) if n)
        for name, *counts in note.by_dataset
    )
    samples = ", ".join(
        f"{_MARK[c.kind]} {code(c.field, limit=24)} {code(c.value, limit=80)}" for c in note.samples
    )
    more = "…" if note.changes > len(note.samples) else ""
    when = _clock(note.first_at, tz)
    if note.last_at != note.first_at:
        when += f"–{_clock(note.last_at, tz)}"
    return truncate(
        f"• {code(note.indicator, limit=120)} ({note.kind.value}): {_count(note.changes, 'change')}"
        f" · {datasets} · {samples}{more} · {when}",
        1000,
    )


def build_digest_email(digest: Digest, channel_id: str) -> tuple[str, str]:
    """Subject and plain-text body. Indicators and values are defanged: mail clients turn
    bare domains into links."""
    window, tz = digest.window, digest.window.tz
    subject = f"Watchpost digest {window.label} for {channel_id}: {_headline(digest, markup=False)}"
    lines = [
        f"Watchpost digest for Slack channel {channel_id}",
        "",
        f"{_headline(digest, markup=False)} {_span(digest)}.",
        "",
    ]
    if _triage_line(digest):
        lines += [_triage_line(digest), ""]
    for d in digest.datasets:
        lines.append(
            f"  {d.dataset}: {_count(d.changes, 'change')} on {_count(d.indicators, 'indicator')}"
            f" ({d.added} added, {d.removed} removed, {d.changed} changed)"
        )
    lines += ["", "Source health", *(f"  {line}" for line in _health_lines(digest, markup=False))]
    if digest.notes:
        lines += ["", "Per indicator"]
        for note in digest.notes[:MAX_NOTES]:
            counts = ", ".join(
                f"{name} " + " ".join(f"{m}{n}" for m, n in zip("+-~", rest, strict=True) if n)
                for name, *rest in note.by_dataset
            )
            samples = ", ".join(
                f"{c.kind.value} {c.field} {defang(c.value)[:120]}".replace("\n", " ") for c in note.samples
            )
            lines.append(
                f"  {defang(note.indicator)} ({note.kind.value}): {_count(note.changes, 'change')}; "
                f"{counts}; {samples}{'…' if note.changes > len(note.samples) else ''}"
            )
        if len(digest.notes) > MAX_NOTES:
            lines.append(f"  …and {len(digest.notes) - MAX_NOTES} more: every change is in the CSV files.")
    if digest.files:
        lines += ["", "Attached, one CSV per dataset (times in " + tz.key + "):"]
        lines += [f"  {f.filename} ({_count(f.rows, 'row')})" for f in digest.files]
    return subject, "\n".join(lines) + "\n"


# --- pieces -------------------------------------------------------------------------


def _title(digest: Digest) -> str:
    window, tz = digest.window, digest.window.tz
    if window.day is not None:
        return f"Watchpost digest · {window.day:%a %d %b %Y}"
    return f"Watchpost digest so far · {window.end.astimezone(tz):%a %d %b %H:%M}"


def _headline(digest: Digest, *, markup: bool) -> str:
    star = "*" if markup else ""
    if not digest.total_changes:
        return f"{star}No changes{star}"
    return (
        f"{star}{_count(digest.total_changes, 'change')}{star} on "
        f"{star}{_count(digest.indicators, 'indicator')}{star}"
    )


def _triage_line(digest: Digest) -> str:
    """Open alerts, and what rules kept quiet: nothing is silenced invisibly."""
    parts = []
    if digest.open_alerts:
        parts.append(f"{_count(digest.open_alerts, 'open alert')} to triage")
    if digest.suppressed:
        parts.append(
            f"{_count(digest.suppressed, 'change')} suppressed by rules (mutes, snoozes, false positives)"
        )
    return " · ".join(parts)


def _span(digest: Digest) -> str:
    """in the 23 hours from Sat 28 Mar 09:00 CET to Sun 29 Mar 09:00 CEST (Europe/Berlin)"""
    window, tz = digest.window, digest.window.tz
    return (
        f"in the {_duration(window.length)} from {_moment(window.start, tz)} to {_moment(window.end, tz)}"
        f" ({tz.key})"
    )


def _health_lines(digest: Digest, *, markup: bool) -> list[str]:
    """Sources that failed, datasets stale now, indicators not checked: never silence."""
    tz = digest.window.tz
    lines = [_source_line(s, tz, markup=markup) for s in digest.sources]
    for item in digest.stale:
        since = f" since {_moment(item.since, tz)}" if item.since else " (never fetched)"
        lines.append(
            f"{':hourglass: ' if markup else ''}Stale now: {_value(item.indicator, markup)} "
            f"{escape(item.dataset) if markup else item.dataset}{since}"
        )
    for overdue in digest.overdue:
        last = _moment(overdue.last_checked_at, tz) if overdue.last_checked_at else "never"
        lines.append(
            f"{':hourglass: ' if markup else ''}Not checked recently: {_value(overdue.indicator, markup)}"
            f" (last check: {last})"
        )
    if len(lines) > MAX_HEALTH_LINES:
        rest = len(lines) - MAX_HEALTH_LINES + 1
        lines = [*lines[: MAX_HEALTH_LINES - 1], f"…and {rest} more (`/monitor list` shows what is stale)"]
    if not lines:
        lines.append(
            (":white_check_mark: " if markup else "")
            + "Every source answered: no failed lookups in this window."
        )
    return lines


def _source_line(health: SourceHealth, tz: ZoneInfo, *, markup: bool) -> str:
    span = _clock(health.first_at, tz)
    if health.last_at != health.first_at:
        span += f"–{_clock(health.last_at, tz)} ({_duration(health.last_at - health.first_at)})"
    datasets = ", ".join(health.datasets)
    message = " ".join(health.last_message.split())[:200]
    if markup:
        return (
            f":warning: {code(health.source, limit=64)} ({escape(datasets)}): "
            f"{_count(health.failures, 'failed lookup')} on {_count(health.indicators, 'indicator')}, "
            f"{span} · last error {code(message)}"
        )
    return (
        f"{health.source} ({datasets}): {_count(health.failures, 'failed lookup')} on "
        f"{_count(health.indicators, 'indicator')}, {span}; last error: {message}"
    )


def _value(text: str, markup: bool) -> str:
    return code(text, limit=120) if markup else defang(text)


def _bounded(lines: Sequence[str]) -> str:
    text = ""
    for line in lines:
        if len(text) + len(line) + 1 > SECTION_LIMIT - 60:
            return text + "\n…(more in `/monitor list`)"
        text = f"{text}\n{line}" if text else line
    return text


def _mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": truncate(text, 2000)}


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _moment(moment: datetime, tz: ZoneInfo) -> str:
    return f"{moment.astimezone(tz):%a %d %b %H:%M %Z}"


def _clock(moment: datetime, tz: ZoneInfo) -> str:
    return f"{moment.astimezone(tz):%H:%M}"


def _duration(span: timedelta) -> str:
    minutes = round(span.total_seconds() / 60)
    hours, minutes = divmod(minutes, 60)
    if hours and not minutes:
        return _count(hours, "hour")
    if hours:
        return f"{hours} h {minutes} min"
    return _count(minutes, "minute")
