"""Pictures of history (PNG bytes out, nothing else touched): matplotlib's object API on
the Agg canvas, no pyplot state. The bot draws them in a child process
(bot/investigations/messages/drawing.py), never on its event loop.

- `render_timeline`: an indicator's history. One row per value of each dataset, a bar
  from when it was first seen to when it was last seen (to `now` while it is still
  seen), the changes marked on it: ▲ added, ▼ removed, ◆ changed. Rows are grouped by
  dataset; past `max_rows`, the most recently seen are kept and the rest counted.
- `render_week_chart`: a digest's week, the number of changes per day stacked by dataset.

Values are drawn as text only (matplotlib's mathtext is off), cut to a readable length.
"""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from bot.core.mrkdwn import defang, truncate
from bot.core.observations import ChangeKind

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_ROWS = 40
LABEL_CHARS = 48
_MARKERS = {
    ChangeKind.ADDED: ("^", "#2e7d32"),
    ChangeKind.REMOVED: ("v", "#c62828"),
    ChangeKind.CHANGED: ("D", "#ef6c00"),
}
_PALETTE = ("#1565c0", "#6a1b9a", "#00838f", "#ad1457", "#4e342e", "#558b2f", "#37474f", "#f9a825")


@dataclass(frozen=True)
class Interval:
    """A value and when it was seen (`last_seen` None: still seen)."""

    dataset: str
    field: str
    value: str
    first_seen: datetime
    last_seen: datetime | None


@dataclass(frozen=True)
class Mark:
    """A change of a value, when it was detected."""

    dataset: str
    field: str
    value: str
    kind: ChangeKind
    at: datetime


def render_timeline(
    indicator: str,
    intervals: Sequence[Interval],
    marks: Sequence[Mark],
    *,
    now: datetime,
    max_rows: int = MAX_ROWS,
) -> bytes:
    """The timeline of `indicator` as a PNG."""
    rows = _rows(intervals, max_rows)
    hidden = len({(i.dataset, i.field, i.value) for i in intervals}) - len(rows)
    height = 1.6 + 0.28 * max(len(rows), 3)
    figure, axes = _figure(10.0, height)
    datasets = sorted({dataset for dataset, _, _ in rows})
    colour = {dataset: _PALETTE[n % len(_PALETTE)] for n, dataset in enumerate(datasets)}
    position = {key: n for n, key in enumerate(rows)}
    spans: dict[tuple[str, str, str], list[tuple[datetime, datetime]]] = defaultdict(list)
    for interval in intervals:
        key = (interval.dataset, interval.field, interval.value)
        if key in position:
            end = interval.last_seen or now
            spans[key].append((interval.first_seen, max(end, interval.first_seen)))
    start = min((s for pieces in spans.values() for s, _ in pieces), default=now - timedelta(days=1))
    span = max(now - start, timedelta(minutes=2))
    minimum = span / 200  # a value seen once is still a visible bar
    for key, pieces in spans.items():
        bars = [(_num(s), _days(max(e - s, minimum))) for s, e in pieces]
        axes.broken_barh(bars, (position[key] - 0.35, 0.7), facecolors=colour[key[0]], alpha=0.85)
    for kind, (marker, mark_colour) in _MARKERS.items():
        shown = [m for m in marks if m.kind is kind and (m.dataset, m.field, m.value) in position]
        if shown:
            axes.scatter(
                [_num(m.at) for m in shown],
                [position[(m.dataset, m.field, m.value)] for m in shown],
                marker=marker,
                s=36,
                color=mark_colour,
                edgecolors="white",
                linewidths=0.6,
                zorder=3,
                label=kind.value,
            )
    axes.set_yticks(range(len(rows)))
    axes.set_yticklabels([_label(dataset, field, value) for dataset, field, value in rows], fontsize=7)
    for tick, (dataset, _, _) in zip(axes.get_yticklabels(), rows, strict=True):
        tick.set_color(colour[dataset])
    axes.set_ylim(len(rows) - 0.5 if rows else 0.5, -0.5)
    axes.set_xlim(_num(now - span) - _days(span / 50), _num(now) + _days(span / 50))
    _date_axis(axes)
    title = f"History of {defang(indicator)}"
    if not rows:
        title += ": nothing stored yet"
    axes.set_title(title, fontsize=11, loc="left")
    notes = [f"{len(rows)} values"] + ([f"{hidden} more not shown"] if hidden > 0 else [])
    notes.append(f"bars: first to last seen · times in UTC · drawn {now:%Y-%m-%d %H:%M}")
    figure.supxlabel(" · ".join(notes), fontsize=7)
    if axes.collections and any(m.kind for m in marks):
        axes.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False, ncol=3)
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)


def render_week_chart(
    changes: Sequence[tuple[datetime, str]], *, last_day: date, timezone: tzinfo, days: int = 7
) -> bytes:
    """Changes per day over the `days` ending with `last_day` (in `timezone`), stacked by
    dataset, as a small PNG for a digest's thread."""
    first = last_day - timedelta(days=days - 1)
    counts: Counter[tuple[date, str]] = Counter()
    for at, dataset in changes:
        day = at.astimezone(timezone).date()
        if first <= day <= last_day:
            counts[(day, dataset)] += 1
    datasets = sorted({dataset for _, dataset in counts})
    figure, axes = _figure(6.0, 2.6)
    x = list(range(days))
    bottom = [0] * days
    for n, dataset in enumerate(datasets):
        heights = [counts[(first + timedelta(days=d), dataset)] for d in x]
        axes.bar(x, heights, bottom=bottom, color=_PALETTE[n % len(_PALETTE)], label=dataset, width=0.7)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    axes.set_xticks(x)
    axes.set_xticklabels([f"{first + timedelta(days=d):%a %d}" for d in x], fontsize=7)
    axes.tick_params(axis="y", labelsize=7)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.set_title(f"Changes per day, {first:%d %b} – {last_day:%d %b}", fontsize=9, loc="left")
    if datasets:
        axes.legend(fontsize=6, frameon=False, loc="upper left", ncol=min(3, len(datasets)))
        axes.set_ylim(0, max(bottom) * 1.35 + 1)
    else:
        axes.text(0.5, 0.5, "no changes this week", transform=axes.transAxes, ha="center", fontsize=8)
    axes.grid(axis="y", alpha=0.3)
    return _png(figure)


def _rows(intervals: Sequence[Interval], max_rows: int) -> list[tuple[str, str, str]]:
    """The values to draw: the most recently seen first, then grouped by dataset."""
    latest: dict[tuple[str, str, str], datetime] = {}
    for interval in intervals:
        key = (interval.dataset, interval.field, interval.value)
        seen = interval.last_seen or datetime.max.replace(tzinfo=interval.first_seen.tzinfo)
        latest[key] = max(latest.get(key, seen), seen)
    kept = sorted(latest, key=lambda key: latest[key], reverse=True)[:max_rows]
    return sorted(kept)


def _label(dataset: str, field: str, value: str) -> str:
    # `$` would start mathtext; values are shown literally.
    return truncate(f"{dataset} · {field} {value}".replace("$", r"\$"), LABEL_CHARS)


def _figure(width: float, height: float) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    return figure, axes


def _date_axis(axes: Any) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(minticks=3, maxticks=8)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    axes.tick_params(axis="x", labelsize=7)


def _num(moment: datetime) -> float:
    from matplotlib.dates import date2num

    return float(date2num(moment))  # type: ignore[no-untyped-call]


def _days(span: timedelta) -> float:
    return span.total_seconds() / 86400


def _png(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
