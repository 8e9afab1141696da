"""The App Home tab (pure): the open alerts of the user's channels (nobody's first), then
the monitors a user can see, busiest first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from bot.core.limits import MAX_BLOCKS_HOME, MAX_CONTEXT_ELEMENT_TEXT, MAX_SECTION_TEXT, shorten_line
from bot.core.message import Block, context, divider, header, section
from bot.core.mrkdwn import channel_link, code, escape, indicator_code, mention, truncate
from bot.core.order import natural_key

# Header, summary, divider, "and N more" and the footer (and the open alerts, when any).
_FIXED_BLOCKS = 5
MAX_OPEN_ALERTS_SHOWN = 15


@dataclass(frozen=True)
class OpenAlertRow:
    """An alert of one of the user's channels that nobody closed: `taken_by` is who
    acknowledged it (None: unassigned)."""

    indicator: str
    channel_id: str
    detected_at: datetime
    changes: int
    taken_by: str | None = None


@dataclass(frozen=True)
class HomeRow:
    indicator: str
    kind: str
    channel_ids: tuple[str, ...]
    datasets_today: tuple[str, ...]
    last_alert_at: datetime | None
    alert_count: int
    muted: tuple[str, ...] = ()


def build_home_blocks(
    rows: Sequence[HomeRow],
    *,
    now: datetime,
    timezone: tzinfo,
    open_alerts: Sequence[OpenAlertRow] = (),
) -> list[Block]:
    """The open alerts, unassigned first, then one section per indicator: alerted today
    first, then by the last alert, newest first. Past Slack's 100 blocks, the quietest
    are summarised in one line."""
    today = now.astimezone(timezone).date()
    ordered = sorted(
        rows,
        key=lambda r: (
            not r.datasets_today,
            -(r.last_alert_at.timestamp() if r.last_alert_at else 0.0),
            natural_key(r.indicator),
        ),
    )
    alerted = sum(1 for r in rows if r.datasets_today)
    blocks: list[Block] = [header("Watchpost: what you monitor")]
    if not rows:
        blocks.append(
            section(
                "No monitors in the channels you share with Watchpost yet. "
                "In a channel, type `/monitor example.com` (or an IP) to start."
            )
        )
    else:
        plural = "s" * (len(rows) != 1)
        blocks.append(
            section(
                f"*{len(rows)}* monitored indicator{plural} in channels you are in · "
                f"*{alerted}* alerted today"
            )
        )
        if open_alerts:
            blocks.append(section(_open_alerts_text(open_alerts, timezone)))
        blocks.append(divider())
    room = MAX_BLOCKS_HOME - _FIXED_BLOCKS - (1 if rows and open_alerts else 0)
    for row in ordered[:room]:
        blocks.append(section(shorten_line(_row_text(row, today, timezone), MAX_SECTION_TEXT)))
    if len(ordered) > room:
        rest = ordered[room:]
        names = escape(truncate(", ".join(r.indicator for r in rest[:20]), 1500))
        blocks.append(
            context(
                shorten_line(
                    f"…and {len(rest)} more, quieter: {names}"
                    + ("…" if len(rest) > 20 else "")
                    + " · `/monitor list` in a channel shows all of its monitors",
                    MAX_CONTEXT_ELEMENT_TEXT,
                )
            )
        )
    blocks.append(context(f"Updated {now:%Y-%m-%d %H:%M} UTC · `/monitor help` for every command"))
    return blocks


def _open_alerts_text(alerts: Sequence[OpenAlertRow], timezone: tzinfo) -> str:
    ordered = sorted(alerts, key=lambda a: (a.taken_by is not None, -a.detected_at.timestamp()))
    unassigned = sum(1 for a in alerts if a.taken_by is None)
    lines = [f"*Open alerts* ({len(alerts)}, {unassigned} unassigned)"]
    for alert in ordered[:MAX_OPEN_ALERTS_SHOWN]:
        who = f"taken by {mention(alert.taken_by)}" if alert.taken_by else ":new: unassigned"
        plural = "s" * (alert.changes != 1)
        when = f"{alert.detected_at.astimezone(timezone):%Y-%m-%d %H:%M}"
        lines.append(
            f"• {code(alert.indicator, limit=80)} in {channel_link(alert.channel_id)} · "
            f"{alert.changes} change{plural} · {when} · {who}"
        )
    if len(ordered) > MAX_OPEN_ALERTS_SHOWN:
        lines.append(f"…and {len(ordered) - MAX_OPEN_ALERTS_SHOWN} more")
    return "\n".join(lines)


def _row_text(row: HomeRow, today: date, timezone: tzinfo) -> str:
    where = ", ".join(channel_link(c) for c in row.channel_ids[:5])
    if len(row.channel_ids) > 5:
        where += f" +{len(row.channel_ids) - 5}"
    first = f"*{indicator_code(row.indicator)}* ({escape(truncate(row.kind, 40))})" + (
        f" · {where}" if where else ""
    )
    parts = []
    if row.datasets_today:
        parts.append(
            f":rotating_light: alerted today: {escape(truncate(', '.join(row.datasets_today), 500))}"
        )
    if row.last_alert_at is None:
        parts.append("no alerts yet")
    else:
        days = (today - row.last_alert_at.astimezone(timezone).date()).days
        since = "today" if days <= 0 else ("1 day ago" if days == 1 else f"{days} days ago")
        parts.append(f"last alert {since}")
        plural = "s" * (row.alert_count != 1)
        parts.append(f"{row.alert_count} alert{plural} so far")
    if row.muted:
        parts.append(f":no_bell: muted: {escape(truncate(', '.join(row.muted[:12]), 500))}")
    return first + "\n" + " · ".join(parts)
