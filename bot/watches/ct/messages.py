"""What the CT reader sees and what following the logs costs, in words (pure): the CT
lines of `/monitor health`, and what a new lookalike or keyword watch can see now."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.core.mrkdwn import code, count, escape, truncate
from bot.monitoring.store.resolver_verdicts import ResolverStatus
from bot.watches.ct.model import CtReading, CtState
from bot.watches.ct.store import CtPosition
from bot.watches.model import WatchKind

MAX_NAMED = 3  # failing logs and logs with unreadable entries named in a line
# Before anything is measured: the range the README gives for every usable log (tiles
# compressed at the low end, RFC 6962 JSON at the high end).
ESTIMATE = "by estimate 13–100 GB a day for every usable log"


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment is not None else "never"


def _log_name(identity: str) -> str:
    return truncate(identity.split("://", 1)[-1].rstrip("/"), 60)


def describe_bytes(size: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:,.1f} {unit}"
    return f"{size:,.0f} bytes"


def describe_span(seconds: float) -> str:
    hours, minutes = divmod(int(seconds) // 60, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def cost_line(reading: CtReading) -> str:
    """What following costs, from what the follower read (never a guess shown as a measure)."""
    per_day = reading.per_day()
    if per_day is None:
        return f"Cost: not measured yet ({ESTIMATE})"
    entries, size = per_day
    return (
        f"Cost: about {entries:,.0f} entries and {describe_bytes(size)} a day"
        f" (measured over the last {describe_span(reading.measured_seconds)})"
    )


def ct_state_line(reading: CtReading) -> str:
    if reading.state is CtState.IDLE:
        return f":zzz: Not reading CT: no lookalike or keyword watch (since {_when(reading.since)})"
    if reading.stream_url:
        return _stream_line(reading)
    if not reading.logs_followed:
        if reading.list_error:
            return (
                f":red_circle: The CT log list cannot be read: {escape(truncate(reading.list_error, 300))}."
                " No certificate is matched until it can."
            )
        return ":hourglass: Watched; the CT log list is not read yet (at the reader's next run)"
    list_read = f"log list read {_when(reading.list_read_at)}"
    line = f":large_green_circle: Following {reading.logs_followed:,} CT logs · {list_read}"
    if reading.state is CtState.WAITING:
        line = (
            f":hourglass: Starting on {reading.logs_followed:,} CT logs"
            f" ({list_read}): certificates are matched from their next read"
        )
    if reading.list_error:
        error = escape(truncate(reading.list_error, 200))
        line += f" · its last refresh failed ({error}): the list read before is used"
    return line


def _stream_line(reading: CtReading) -> str:
    where = code(truncate(reading.stream_url, 120), limit=140)
    lost = (
        f" · lost {reading.stream_reconnects:,} time{'s' * (reading.stream_reconnects != 1)},"
        " each time losing what was sent meanwhile"
        if reading.stream_reconnects
        else ""
    )
    if reading.state is CtState.FOLLOWING:
        seen = f"{count(reading.logs_followed, 'log')} seen"
        return f":large_green_circle: Following the certstream at {where} ({seen}){lost}"
    if reading.list_error:
        return (
            f":red_circle: The certstream at {where} cannot be reached:"
            f" {escape(truncate(reading.list_error, 300))}."
            " No certificate is matched until it can (a stream has no replay)."
        )
    return f":hourglass: Connecting to the certstream at {where}"


def ct_reading_lines(reading: CtReading) -> list[str]:
    """The reader's state, failing logs, entries passed over, and the cost."""
    lines = [ct_state_line(reading)]
    if reading.state is CtState.IDLE:
        return lines
    if reading.logs_failing:
        named = "; ".join(
            f"{code(_log_name(log), limit=80)} {escape(truncate(error, 120))}"
            for log, error in reading.logs_failing[:MAX_NAMED]
        )
        more = len(reading.logs_failing) - MAX_NAMED
        lines.append(
            f":warning: {count(len(reading.logs_failing), 'log')} failed at the last read: {named}"
            + (f" and {more} more" if more > 0 else "")
        )
    if reading.unreadable:
        total = sum(item.count for item in reading.unreadable)
        named = "; ".join(
            f"{code(_log_name(item.log), limit=80)} {item.count:,} (last {escape(truncate(item.last, 160))})"
            for item in reading.unreadable[:MAX_NAMED]
        )
        lines.append(f":warning: {total:,} entries unreadable and passed over: {named}")
    lines.append(cost_line(reading))
    return lines


def watch_outlook_lines(
    kind: WatchKind,
    reading: CtReading | None,
    positions: Sequence[CtPosition],
    resolver: ResolverStatus | None,
    *,
    ct_enabled: bool,
) -> list[str]:
    """What a new watch can see now: certificates (the log list, the logs and their lag,
    the cost) and, for a lookalike watch, its permutations' DNS (the resolver)."""
    lines = []
    if not ct_enabled:
        lines.append(
            ":red_circle: Certificates: CT is off (no WATCHPOST_CT_LOG_LIST_URL): no certificate is matched."
        )
    elif reading is not None and reading.since is not None and reading.state is not CtState.IDLE:
        lines.append("Certificates: " + ct_state_line(reading))
        if reading.state is CtState.FOLLOWING and reading.stream_url:
            lines.append("Certificates the stream sends from now on are matched (it has no replay).")
        elif reading.state is CtState.FOLLOWING:
            behind = sum(max(0, p.tree_size - p.position) for p in positions)
            lines.append(f"Certificates logged from now on are matched; {behind:,} entries behind in all.")
        lines.append(cost_line(reading))
    else:
        # This process has not read CT (nobody watched until now, or another process reads).
        last = max((p.updated_at for p in positions), default=None)
        lines.append(
            "Certificates: the CT reader is not following the logs yet: it starts now and matches"
            " what is logged from then on"
            + (f" ({count(len(positions), 'log')}, last read {_when(last)})." if positions else ".")
        )
        lines.append(f"Cost: not measured yet ({ESTIMATE}).")
    if kind is WatchKind.LOOKALIKE:
        if resolver is None:
            lines.append("Permutations: resolved every day.")
        elif resolver.ok:
            lines.append(
                f"Permutations: resolved every day (resolver {escape(resolver.resolver)} passes its check)."
            )
        else:
            since = f" since {_when(resolver.failing_since)}" if resolver.failing_since else ""
            lines.append(
                f":red_circle: Permutations: not resolved while the resolver fails{since}:"
                f" {escape(truncate(resolver.problem or '', 200))}."
            )
    return lines
