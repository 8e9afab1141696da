"""Source health (pure): the `/monitor health` reply, its App Home section, and the one
notice a channel gets when a source it depends on is down, and when it is back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.render.messages import Block, Message, context, divider, header, section
from bot.render.mrkdwn import escape


@dataclass(frozen=True)
class SourceHealthRow:
    source: str  # its label: "Mnemonic", "crt.sh"
    requests_hour: int
    requests_day: int
    quota: tuple[tuple[str, int, int], ...] = ()  # (window, used, allowed): ("minute", 3, 4)
    errors_day: dict[str, int] = field(default_factory=dict)  # kind -> count
    last_success_at: datetime | None = None
    latency_p50_ms: int | None = None
    latency_p95_ms: int | None = None
    interval: str = ""  # "every 3 h 20 min (Mnemonic allows 1,000 a day for 460 monitors)"
    waiting: int = 0  # lookups queued for a slot
    failing_since: datetime | None = None


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment is not None else "never"


def health_lines(row: SourceHealthRow) -> str:
    state = ":red_circle:" if row.failing_since else ":large_green_circle:"
    counts = f"{row.requests_hour:,} requests in the last hour, {row.requests_day:,} in the day"
    parts = [f"{state} *{escape(row.source)}*: {counts}"]
    if row.quota:
        parts.append(
            "quota: "
            + ", ".join(f"{used:,} of {allowed:,} this {window}" for window, used, allowed in row.quota)
        )
    if row.waiting:
        parts.append(f"{row.waiting:,} lookups waiting for a slot")
    if row.errors_day:
        parts.append(
            "errors today: "
            + ", ".join(f"{kind} {count:,}" for kind, count in sorted(row.errors_day.items()))
        )
    else:
        parts.append("no errors today")
    parts.append(f"last success {_when(row.last_success_at)}")
    if row.latency_p50_ms is not None:
        parts.append(f"latency p50 {row.latency_p50_ms:,} ms, p95 {row.latency_p95_ms or 0:,} ms")
    if row.interval:
        parts.append(escape(row.interval))
    if row.failing_since:
        parts.append(f"*failing since {_when(row.failing_since)}*")
    return "\n• ".join(parts)


def build_health_blocks(rows: Sequence[SourceHealthRow], *, resolver: str = "") -> list[Block]:
    blocks: list[Block] = [header("Source health")]
    if resolver:
        blocks.append(section(escape(resolver)))
    for row in rows[:40]:
        blocks.append(section(health_lines(row)[:2900]))
    if not rows:
        blocks.append(section("_No source has been asked anything in the last day._"))
    blocks.append(context("Every Watchpost process counted; a day of requests is kept."))
    return blocks


def build_health_message(rows: Sequence[SourceHealthRow], *, resolver: str = "") -> Message:
    failing = [row.source for row in rows if row.failing_since]
    text = (
        f"Source health: {', '.join(failing)} failing" if failing else "Source health: every source answers"
    )
    return Message(escape(text), build_health_blocks(rows, resolver=resolver))


def build_home_health_blocks(rows: Sequence[SourceHealthRow]) -> list[Block]:
    """A short section for the App Home: one line per source."""
    if not rows:
        return []
    lines = []
    for row in rows[:20]:
        state = f"failing since {_when(row.failing_since)}" if row.failing_since else "ok"
        quota = "".join(f" · {used:,}/{allowed:,} a {window}" for window, used, allowed in row.quota[:1])
        lines.append(f"• *{escape(row.source)}*: {state} · {row.requests_hour:,} requests last hour{quota}")
    return [divider(), section("*Sources*\n" + "\n".join(lines))]


def build_outage_notice(source: str, since: datetime, feeds: str) -> Message:
    text = (
        f":warning: {source} has been failing since {_when(since)}: {feeds} of this channel's monitors "
        "keep their last known state until it answers again. No alert is lost; nothing needs doing here."
    )
    return Message(escape(text), [section(escape(text))])


def build_recovery_notice(source: str, since: datetime, now: datetime) -> Message:
    text = f":white_check_mark: {source} answers again (it failed from {_when(since)} to {_when(now)})."
    return Message(escape(text), [section(escape(text))])
