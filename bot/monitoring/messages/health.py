"""Source health (pure): the `/monitor health` reply, its App Home section, and the one
notice a channel gets when a source it depends on is down, and when it is back. The reply
and the App Home also say whether the resolver passes its check (the verdict the checking
processes shared) and, once lookalikes are watched, how far each CT log has been read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.alerts.store.receivers import ReceiverHealth
from bot.core.limits import split_lines
from bot.core.message import Block, Message, context, divider, header, section
from bot.core.mrkdwn import code, count, escape
from bot.monitoring.store.resolver_verdicts import ResolverStatus
from bot.watches.ct.messages import ct_reading_lines
from bot.watches.ct.model import CtReading, CtState
from bot.watches.ct.store import CtPosition

# A log this far behind is shown as lagging: it is the follower's default catch-up bound,
# past which the oldest entries are skipped.
CT_LAG_WARNING = 100_000
MAX_CT_LOGS = 40


@dataclass(frozen=True)
class SourceHealthRow:
    source: str  # its label: "Mnemonic", "crt.sh"
    requests_hour: int = 0
    requests_day: int = 0
    quota: tuple[tuple[str, int, int], ...] = ()  # (window, used, allowed): ("minute", 3, 4)
    errors_day: dict[str, int] = field(default_factory=dict)  # kind -> count
    last_success_at: datetime | None = None
    latency_p50_ms: int | None = None
    latency_p95_ms: int | None = None
    interval: str = ""  # "every 3 h 20 min (Mnemonic allows 1,000 a day for 460 monitors)"
    waiting: int = 0  # lookups queued for a slot
    failing_since: datetime | None = None
    off: str = ""  # why the settings turned it off ("no key: …"); "": on


@dataclass(frozen=True)
class HealthReport:
    """Everything `/monitor health` and the App Home's health section show."""

    sources: tuple[SourceHealthRow, ...] = ()
    resolver: ResolverStatus | None = None  # None: no resolver check, or none ran yet
    ct_logs: tuple[CtPosition, ...] | None = None  # None: nothing reads CT
    ct_reading: CtReading | None = None  # what this process's CT reader saw (None: it ran elsewhere)
    resolver_off: str = ""  # why the resolver check is off ("": it is on)
    receivers: tuple[ReceiverHealth, ...] = ()  # webhook, MISP, TheHive: on or off, and their queue


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment is not None else "never"


def health_lines(row: SourceHealthRow) -> str:
    if row.off:
        return f":white_circle: *{escape(row.source)}*: off · {escape(row.off)}"
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


def resolver_state_line(status: ResolverStatus | None, *, off: str = "") -> str:
    """The resolver's line in every state: off (and why), not checked yet, or its verdict."""
    if off:
        return f":white_circle: *Resolver*: check off · {escape(off)}: DNS answers are believed unchecked"
    if status is None:
        return ":hourglass: *Resolver*: not checked yet · the check runs before the first DNS answer counts"
    return resolver_line(status)


def resolver_line(status: ResolverStatus) -> str:
    """One line: the resolver passes, or what is wrong with it since when; when last checked."""
    checked = f"last checked {_when(status.checked_at)}"
    if status.ok:
        return (
            f":large_green_circle: *Resolver* {escape(status.resolver)}: OK "
            f"(the canary answers, a name that cannot exist does not) · {checked}"
        )
    since = f" since {_when(status.failing_since)}" if status.failing_since is not None else ""
    return (
        f":red_circle: *Resolver failing{since}*: {escape(status.problem or '')} · "
        f"every DNS dataset is off until it passes · {checked}"
    )


def short_log_name(identity: str) -> str:
    """A CT log's URL as a short name: no scheme, no trailing slash, at most 60 characters."""
    name = identity.split("://", 1)[-1].rstrip("/")
    return name if len(name) <= 60 else name[:28] + "…" + name[-31:]


def ct_log_line(position: CtPosition) -> str:
    behind = max(0, position.tree_size - position.position)
    state = ":warning:" if behind >= CT_LAG_WARNING else ":large_green_circle:"
    lag = f"{behind:,} entries behind" if behind else "caught up"
    return (
        f"{state} {code(short_log_name(position.log), limit=80)}: read to entry {position.position:,} "
        f"of {position.tree_size:,} · {lag} · last advanced {_when(position.updated_at)}"
    )


def _ct_blocks(ct_logs: Sequence[CtPosition], reading: CtReading | None = None) -> list[Block]:
    said = ct_reading_lines(reading) if reading is not None else []
    if not ct_logs or (reading is not None and reading.state is CtState.IDLE):
        text = "\n".join(said) if said else "_No CT log has been read yet._"
        return [section(f"*Certificate Transparency*\n{text}"[:2900])]
    ordered = sorted(ct_logs, key=lambda p: (-(p.tree_size - p.position), p.log))
    lines = [ct_log_line(p) for p in ordered[:MAX_CT_LOGS]]
    behind = sum(max(0, p.tree_size - p.position) for p in ct_logs)
    entries = count(behind, "entry", "entries")
    title = f"*Certificate Transparency*: {count(len(ct_logs), 'log')}, {entries} behind in all"
    texts = split_lines([title, *said, *lines])
    blocks = [section(text) for text in texts[:2]]
    if len(ct_logs) > MAX_CT_LOGS or len(texts) > 2:
        blocks.append(context("The logs furthest behind are shown first; the rest are in /api/v1/health."))
    return blocks


RECEIVER_LABELS = {"webhook": "Webhooks", "misp": "MISP", "thehive": "TheHive"}


def receiver_line(state: ReceiverHealth) -> str:
    """One HTTP receiver: off and why, or its backlog, give-ups and last error."""
    label = f"*{escape(RECEIVER_LABELS.get(state.receiver, state.receiver))}*"
    if state.off:
        return f":white_circle: {label}: off · {escape(state.off)}"
    failing = state.last_error is not None
    parts = [
        ":red_circle:" if failing else ":large_green_circle:",
        f"{label}: on · {count(state.backlog, 'alert')} waiting · {state.abandoned:,} given up",
    ]
    line = " ".join(parts)
    if failing:
        line += f" · last error {_when(state.last_error_at)}: {escape((state.last_error or '')[:300])}"
    return line


def _receiver_blocks(receivers: Sequence[ReceiverHealth]) -> list[Block]:
    if not receivers:
        return []
    text = "\n".join(["*Alert receivers*", *(receiver_line(r) for r in receivers)])
    return [section(text[:2900])]


def build_health_blocks(
    rows: Sequence[SourceHealthRow],
    *,
    resolver: ResolverStatus | None = None,
    ct_logs: Sequence[CtPosition] | None = None,
    ct_reading: CtReading | None = None,
    resolver_off: str = "",
    receivers: Sequence[ReceiverHealth] = (),
) -> list[Block]:
    """`resolver` None: no verdict yet (or the check is off: `resolver_off` says why);
    `ct_logs` None: no CT section (no watch reads CT) unless `ct_reading` (this process's
    reader) has something to say."""
    blocks: list[Block] = [header("Source health")]
    blocks.append(section(resolver_state_line(resolver, off=resolver_off)[:2900]))
    for row in rows[:40]:
        blocks.append(section(health_lines(row)[:2900]))
    if not rows:
        blocks.append(section("_No source has been asked anything in the last day._"))
    if ct_logs is not None or ct_reading is not None:
        blocks.extend(_ct_blocks(ct_logs or (), ct_reading))
    blocks.extend(_receiver_blocks(receivers))
    blocks.append(context("Every Watchpost process counted; a day of requests is kept."))
    return blocks


def build_health_message(
    rows: Sequence[SourceHealthRow],
    *,
    resolver: ResolverStatus | None = None,
    ct_logs: Sequence[CtPosition] | None = None,
    ct_reading: CtReading | None = None,
    resolver_off: str = "",
    receivers: Sequence[ReceiverHealth] = (),
) -> Message:
    failing = [row.source for row in rows if row.failing_since]
    if resolver is not None and not resolver.ok:
        failing.insert(0, "the resolver")
    failing += [RECEIVER_LABELS.get(r.receiver, r.receiver) for r in receivers if r.last_error is not None]
    text = (
        f"Source health: {', '.join(failing)} failing" if failing else "Source health: every source answers"
    )
    blocks = build_health_blocks(
        rows,
        resolver=resolver,
        ct_logs=ct_logs,
        ct_reading=ct_reading,
        resolver_off=resolver_off,
        receivers=receivers,
    )
    return Message(escape(text), blocks)


def build_home_health_blocks(
    rows: Sequence[SourceHealthRow],
    *,
    resolver: ResolverStatus | None = None,
    ct_logs: Sequence[CtPosition] | None = None,
    ct_reading: CtReading | None = None,
) -> list[Block]:
    """A short section for the App Home: the resolver, one line per source, and CT in one line."""
    lines = []
    if resolver is not None:
        state = (
            "ok"
            if resolver.ok
            else f"failing since {_when(resolver.failing_since)}: {escape(resolver.problem or '')}"
        )
        lines.append(
            f"• *Resolver* {escape(resolver.resolver)}: {state} · checked {_when(resolver.checked_at)}"
        )
    for row in rows[:20]:
        if row.off:
            lines.append(f"• *{escape(row.source)}*: off · {escape(row.off)}")
            continue
        state = f"failing since {_when(row.failing_since)}" if row.failing_since else "ok"
        quota = "".join(f" · {used:,}/{allowed:,} a {window}" for window, used, allowed in row.quota[:1])
        lines.append(f"• *{escape(row.source)}*: {state} · {row.requests_hour:,} requests last hour{quota}")
    if ct_reading is not None and ct_reading.state is CtState.IDLE:
        lines.append("• *Certificate Transparency*: not read (no lookalike or keyword watch)")
    elif ct_logs:
        behind = sum(max(0, p.tree_size - p.position) for p in ct_logs)
        lagging = sum(1 for p in ct_logs if p.tree_size - p.position >= CT_LAG_WARNING)
        last = max(p.updated_at for p in ct_logs)
        lag = f"{lagging:,} lagging, " if lagging else ""
        lines.append(
            f"• *Certificate Transparency*: {count(len(ct_logs), 'log')}, {lag}"
            f"{count(behind, 'entry', 'entries')} behind · last advanced {_when(last)}"
        )
    elif ct_logs is not None:
        lines.append("• *Certificate Transparency*: no log read yet")
    if not lines:
        return []
    return [divider(), *(section(text) for text in split_lines(["*Sources*", *lines])[:2])]


def build_outage_notice(source: str, since: datetime, feeds: str) -> Message:
    text = (
        f":warning: {source} has been failing since {_when(since)}: {feeds} of this channel's monitors "
        "keep their last known state until it answers again. No alert is lost; nothing needs doing here."
    )
    return Message(escape(text), [section(escape(text))])


def build_recovery_notice(source: str, since: datetime, now: datetime) -> Message:
    text = f":white_check_mark: {source} answers again (it failed from {_when(since)} to {_when(now)})."
    return Message(escape(text), [section(escape(text))])
