"""The daily digest (pure): which window a digest covers, and a window's changes and source
failures turned into summary numbers, one CSV per dataset and a note per indicator.

The window of the digest of day D is [D-1 at the digest time, D at the digest time) in
the team's zone, posted at D at the digest time. Window ends are computed in local time
with zoneinfo and only then converted to UTC, so a window spanning a daylight-saving
change lasts 23 or 25 hours, never a fixed 24. A digest time that does not exist on a
given night (02:30 when clocks jump from 02:00 to 03:00) falls after the gap (03:30);
one that happens twice (02:30 when clocks go back) is its first occurrence.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.core.observations import Change, ChangeKind, IndicatorKind
from bot.core.scripts import domain_to_unicode, mixed_scripts
from bot.digests.store import ChannelHealth, StaleDataset
from bot.monitoring.store.history import ChangeRecord, SourceFailureRecord
from bot.watches.model import Finding

CSV_HEADER = (
    "day",
    "time",
    "indicator",
    "dataset",
    "change",
    "field",
    "old value",
    "new value",
    "first seen",
    "last seen",
    "source",
    "triage",  # the alert's state in the channel, `suppressed`, or empty (history only)
)
# Spreadsheets evaluate a cell that starts with these as a formula (OWASP "CSV injection"),
# including the full-width forms some of them accept.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
NOTE_SAMPLES = 3
LOOKALIKE_CSV_HEADER = (
    "day", "time", "lookalike", "lookalike (Unicode)", "mixed scripts", "name seen", "matches", "why",
    "source", "issuer", "certificates", "dismissed",
)  # fmt: skip


# --- windows ------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestWindow:
    """[start, end) in UTC; `day` is the scheduled digest's day, None for one on demand."""

    start: datetime
    end: datetime
    tz: ZoneInfo
    day: date | None = None

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    @property
    def label(self) -> str:
        """What names the digest's files: its day, or the local end of an on-demand one."""
        if self.day is not None:
            return self.day.isoformat()
        return f"{self.end.astimezone(self.tz):%Y-%m-%d-%H%M}-so-far"


def local_at(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The instant (UTC) when the wall clock in `tz` shows `at` on `day`."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def daily_window(day: date, at: time, tz: ZoneInfo) -> DigestWindow:
    return DigestWindow(local_at(day - timedelta(days=1), at, tz), local_at(day, at, tz), tz, day)


def latest_due_day(now: datetime, at: time, tz: ZoneInfo) -> date:
    """The newest day whose digest time has passed at `now`."""
    today = now.astimezone(tz).date()
    return today if local_at(today, at, tz) <= now else today - timedelta(days=1)


def first_day_after(moment: datetime, at: time, tz: ZoneInfo) -> date:
    """The first day whose window ends after `moment` (a channel's first digest)."""
    day = moment.astimezone(tz).date()
    return day if local_at(day, at, tz) > moment else day + timedelta(days=1)


def so_far_window(now: datetime, at: time, tz: ZoneInfo) -> DigestWindow:
    """An on-demand digest: from the end of the latest scheduled window until now."""
    start = local_at(latest_due_day(now, at, tz), at, tz)
    return DigestWindow(start, now, tz)


# --- the digest ---------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetSummary:
    dataset: str
    changes: int
    indicators: int
    added: int
    removed: int
    changed: int


@dataclass(frozen=True)
class SourceHealth:
    """One source's failures in the window: how many, on what, and over which span."""

    source: str
    datasets: tuple[str, ...]
    failures: int
    indicators: int
    first_at: datetime
    last_at: datetime
    last_message: str


@dataclass(frozen=True)
class IndicatorNote:
    """What changed on one indicator in the window, short enough for one line."""

    indicator: str
    kind: IndicatorKind
    changes: int
    by_dataset: tuple[tuple[str, int, int, int], ...]  # dataset, added, removed, changed
    samples: tuple[Change, ...]
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class CsvFile:
    filename: str
    dataset: str
    content: bytes
    rows: int


@dataclass(frozen=True)
class Overdue:
    indicator: str
    last_checked_at: datetime | None


@dataclass(frozen=True)
class Digest:
    window: DigestWindow
    generated_at: datetime
    total_changes: int
    indicators: int
    datasets: tuple[DatasetSummary, ...]
    notes: tuple[IndicatorNote, ...]
    files: tuple[CsvFile, ...]
    sources: tuple[SourceHealth, ...]
    stale: tuple[StaleDataset, ...] = ()
    overdue: tuple[Overdue, ...] = ()
    lookalikes: int = 0  # findings of the channel's lookalike and keyword watches
    lookalikes_silenced: int = 0  # of them, kept out of the channel's alerts (muted or snoozed watches)
    open_alerts: int = 0  # the window's alerts nobody took or closed yet
    suppressed: int = 0  # changes kept out of the channel's alerts by mutes, snoozes, suppressions

    @property
    def has_news(self) -> bool:
        """Anything to say: changes, lookalikes, or sources that failed (silence is not "no change")."""
        return bool(self.total_changes or self.lookalikes or self.sources or self.stale or self.overdue)


def build_digest(
    records: Sequence[ChangeRecord],
    failures: Sequence[SourceFailureRecord],
    *,
    window: DigestWindow,
    now: datetime,
    health: ChannelHealth | None = None,
    overdue_after: timedelta = timedelta(hours=2),
    findings: Sequence[Finding] = (),
    triage: Mapping[int, str] | None = None,
    open_alerts: int = 0,
    suppressed: int = 0,
) -> Digest:
    """Summarise a window. `health` (the channel's datasets stale now, and when each
    indicator was last checked) is given for the newest digest only: for a day long
    past, today's staleness says nothing. An indicator not checked for `overdue_after`
    is reported, so a stalled checker is never mistaken for a quiet day. `triage` labels
    each change (by its record id) for the CSVs: its alert's triage state in the channel,
    or `suppressed`; `open_alerts` and `suppressed` are the channel's counts."""
    records = [r for r in records if window.start <= r.detected_at < window.end]
    failures = [f for f in failures if window.start <= f.at < window.end]
    by_dataset: dict[str, list[ChangeRecord]] = defaultdict(list)
    by_indicator: dict[str, list[ChangeRecord]] = defaultdict(list)
    for record in records:
        by_dataset[record.change.dataset].append(record)
        by_indicator[record.indicator].append(record)
    datasets = tuple(_dataset_summary(name, items) for name, items in sorted(by_dataset.items()))
    notes = tuple(
        sorted(
            (_note(items) for items in by_indicator.values()),
            key=lambda note: (-note.changes, note.indicator),
        )
    )
    findings = [f for f in findings if window.start <= f.first_seen_at < window.end]
    files = _csv_files(window, by_dataset, findings, triage or {})
    stale: tuple[StaleDataset, ...] = ()
    overdue: tuple[Overdue, ...] = ()
    if health is not None:
        stale = tuple(sorted(health.stale, key=lambda s: (s.indicator, s.dataset)))
        overdue = tuple(
            Overdue(indicator, checked)
            for indicator, checked in sorted(health.last_checked)
            if checked is None or checked < now - overdue_after
        )
    return Digest(
        window=window,
        generated_at=now,
        total_changes=len(records),
        indicators=len(by_indicator),
        datasets=datasets,
        notes=notes,
        files=files,
        sources=_source_health(failures),
        stale=stale,
        overdue=overdue,
        lookalikes=len(findings),
        lookalikes_silenced=sum(1 for f in findings if f.silenced),
        open_alerts=open_alerts,
        suppressed=suppressed,
    )


def _csv_files(
    window: DigestWindow,
    by_dataset: Mapping[str, Sequence[ChangeRecord]],
    findings: Sequence[Finding],
    triage: Mapping[int, str],
) -> tuple[CsvFile, ...]:
    """One CSV per dataset with changes (each row with its triage label), and the
    lookalike findings' when there are some."""
    files = tuple(
        CsvFile(
            filename=f"watchpost-{window.label}-{name}.csv",
            dataset=name,
            content=render_csv(csv_row(record, window.tz, triage.get(record.id, "")) for record in items),
            rows=len(items),
        )
        for name, items in sorted(by_dataset.items())
    )
    if findings:
        files += (
            CsvFile(
                filename=f"watchpost-{window.label}-lookalikes.csv",
                dataset="lookalikes",
                content=render_csv(
                    (lookalike_csv_row(f, window.tz) for f in findings), header=LOOKALIKE_CSV_HEADER
                ),
                rows=len(findings),
            ),
        )
    return files


def _dataset_summary(name: str, items: Sequence[ChangeRecord]) -> DatasetSummary:
    kinds = Counter(record.change.kind for record in items)
    return DatasetSummary(
        dataset=name,
        changes=len(items),
        indicators=len({record.indicator for record in items}),
        added=kinds[ChangeKind.ADDED],
        removed=kinds[ChangeKind.REMOVED],
        changed=kinds[ChangeKind.CHANGED],
    )


def _note(items: Sequence[ChangeRecord]) -> IndicatorNote:
    per_dataset: dict[str, Counter[ChangeKind]] = defaultdict(Counter)
    for record in items:
        per_dataset[record.change.dataset][record.change.kind] += 1
    # Samples favour what is new: that is what an analyst pivots on.
    ordered = sorted(items, key=lambda r: (r.change.kind is ChangeKind.REMOVED, r.detected_at, r.id))
    return IndicatorNote(
        indicator=items[0].indicator,
        kind=items[0].kind,
        changes=len(items),
        by_dataset=tuple(
            (name, kinds[ChangeKind.ADDED], kinds[ChangeKind.REMOVED], kinds[ChangeKind.CHANGED])
            for name, kinds in sorted(per_dataset.items())
        ),
        samples=tuple(record.change for record in ordered[:NOTE_SAMPLES]),
        first_at=min(record.detected_at for record in items),
        last_at=max(record.detected_at for record in items),
    )


def _source_health(failures: Sequence[SourceFailureRecord]) -> tuple[SourceHealth, ...]:
    by_source: dict[str, list[SourceFailureRecord]] = defaultdict(list)
    for failure in failures:
        by_source[failure.source].append(failure)
    health = []
    for source, items in by_source.items():
        ordered = sorted(items, key=lambda f: f.at)
        health.append(
            SourceHealth(
                source=source,
                datasets=tuple(sorted({f.dataset for f in items})),
                failures=len(items),
                indicators=len({f.indicator for f in items}),
                first_at=ordered[0].at,
                last_at=ordered[-1].at,
                last_message=ordered[-1].message,
            )
        )
    return tuple(sorted(health, key=lambda h: (-h.failures, h.source)))


# --- CSV ----------------------------------------------------------------------------


def neutralise_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula gets a leading
    apostrophe (the convention Excel and LibreOffice hide when displaying)."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def render_csv(rows: Iterable[Sequence[str]], *, header: Sequence[str] = CSV_HEADER) -> bytes:
    """RFC 4180: CRLF line ends, fields quoted when they hold a comma, quote or line
    break, quotes doubled; UTF-8 without a byte-order mark; a header row first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([neutralise_cell(cell) for cell in header])
    for row in rows:
        writer.writerow([neutralise_cell(cell) for cell in row])
    return buffer.getvalue().encode("utf-8")


def csv_row(record: ChangeRecord, tz: ZoneInfo, triage: str = "") -> list[str]:
    """One change as a CSV row; times in the team's zone with their UTC offset, so the
    hour repeated when clocks go back stays unambiguous."""
    change = record.change
    detected = record.detected_at.astimezone(tz)
    return [
        detected.date().isoformat(),
        detected.isoformat(timespec="seconds").partition("T")[2],  # 02:30:00+01:00
        record.indicator,
        change.dataset,
        change.kind.value,
        change.field,
        change.old_value or "",
        change.new_value or "",
        _local(change.first_seen, tz),
        _local(change.last_seen, tz),
        change.source,
        triage,
    ]


def lookalike_csv_row(finding: Finding, tz: ZoneInfo) -> list[str]:
    """One lookalike finding as a CSV row: the domain as logged (punycode) and as read
    (Unicode), the scripts a label mixes, what it imitates and why, in the team's zone."""
    seen = finding.first_seen_at.astimezone(tz)
    return [
        seen.date().isoformat(),
        seen.isoformat(timespec="seconds").partition("T")[2],
        finding.domain,
        domain_to_unicode(finding.domain),
        " + ".join(mixed_scripts(finding.domain)),
        finding.name,
        "; ".join(str(r.get("term") or "") for r in finding.reasons),
        "; ".join(str(r.get("why") or r.get("rule") or "") for r in finding.reasons),
        finding.source,
        finding.issuer or "",
        str(finding.certificates),
        "yes" if finding.dismissed else "",
    ]


def _local(moment: datetime | None, tz: ZoneInfo) -> str:
    return "" if moment is None else moment.astimezone(tz).isoformat(sep=" ", timespec="seconds")
