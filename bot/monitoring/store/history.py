"""Read-only queries over what changed: history, per-indicator alert summaries, a day's
changes and source failures. Backed by the (subject_id, detected_at) and (detected_at)
indexes, so they stay fast with a year of changes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, Select, func, select
from sqlalchemy.orm import Session

from bot.core.observations import Change, FactStatus, IndicatorKind
from bot.storage.models import ChangeRow, FactRow, Monitor, SourceFailureRow, Subject
from bot.storage.views import change_from_row
from bot.storage.walls import shown_change, shown_fact


@dataclass(frozen=True)
class ChangeRecord:
    """A stored change with where and when it was detected."""

    id: int
    subject_id: int
    indicator: str
    kind: IndicatorKind
    batch_id: str
    detected_at: datetime
    change: Change


@dataclass(frozen=True)
class AlertSummary:
    """Per indicator: what alerted today, when it last alerted, how often before."""

    subject_id: int
    indicator: str
    kind: IndicatorKind
    datasets_today: tuple[str, ...]
    last_alert_at: datetime | None
    alert_count: int  # checks that found changes, ever


@dataclass(frozen=True)
class FactInterval:
    """One value of one dataset and when it was seen: [first_seen, last_seen], or from
    first_seen on while `open` (still part of the state)."""

    dataset: str
    field: str
    value: str
    first_seen: datetime
    last_seen: datetime | None
    open: bool


@dataclass(frozen=True)
class SourceFailureRecord:
    subject_id: int
    indicator: str
    dataset: str
    source: str
    message: str
    at: datetime


class HistoryStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def history(
        self,
        subject_id: int,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        dataset: str | None = None,
        limit: int = 200,
    ) -> list[ChangeRecord]:
        """Changes of one subject, newest first, optionally within [start, end) and a dataset."""
        with Session(self.engine) as session:
            query = (
                select(ChangeRow, Subject)
                .join(Subject, ChangeRow.subject_id == Subject.id)
                .where(ChangeRow.subject_id == subject_id, shown_change())
            )
            if start is not None:
                query = query.where(ChangeRow.detected_at >= start)
            if end is not None:
                query = query.where(ChangeRow.detected_at < end)
            if dataset is not None:
                query = query.where(ChangeRow.dataset == dataset)
            rows = session.execute(
                query.order_by(ChangeRow.detected_at.desc(), ChangeRow.id.desc()).limit(limit)
            )
            return [_record(change, subject) for change, subject in rows]

    def intervals(self, subject_id: int, *, limit: int = 2000) -> list[FactInterval]:
        """Every stored value of one subject as an interval, open and closed, the most
        recently seen first (a timeline's rows)."""
        with Session(self.engine) as session:
            rows = session.scalars(
                select(FactRow)
                .where(FactRow.subject_id == subject_id, shown_fact())
                .order_by(FactRow.first_seen.desc(), FactRow.id.desc())
                .limit(limit)
            )
            return [
                FactInterval(
                    r.dataset,
                    r.field,
                    r.value,
                    r.first_seen,
                    r.last_seen,
                    r.status != FactStatus.CLOSED.value,
                )
                for r in rows
            ]

    def change_times(
        self, start: datetime, end: datetime, *, team_id: str | None = None, channel_id: str | None = None
    ) -> list[tuple[datetime, str]]:
        """(detected at, dataset) of every change in [start, end), for counting: a week of
        a busy channel without loading its values."""
        with Session(self.engine) as session:
            query = select(ChangeRow.detected_at, ChangeRow.dataset).where(
                ChangeRow.detected_at >= start, ChangeRow.detected_at < end, shown_change()
            )
            if channel_id is not None:
                query = query.where(ChangeRow.subject_id.in_(_monitored(team_id, channel_id)))
            return [(at, dataset) for at, dataset in session.execute(query)]

    def changes_between(
        self, start: datetime, end: datetime, *, team_id: str | None = None, channel_id: str | None = None
    ) -> list[ChangeRecord]:
        """Every change in [start, end), oldest first; limited to the subjects a channel monitors."""
        with Session(self.engine) as session:
            query = (
                select(ChangeRow, Subject)
                .join(Subject, ChangeRow.subject_id == Subject.id)
                .where(ChangeRow.detected_at >= start, ChangeRow.detected_at < end, shown_change())
            )
            if channel_id is not None:
                query = query.where(ChangeRow.subject_id.in_(_monitored(team_id, channel_id)))
            rows = session.execute(query.order_by(ChangeRow.detected_at, ChangeRow.id))
            return [_record(change, subject) for change, subject in rows]

    def source_failures_between(
        self, start: datetime, end: datetime, *, team_id: str | None = None, channel_id: str | None = None
    ) -> list[SourceFailureRecord]:
        with Session(self.engine) as session:
            query = (
                select(SourceFailureRow, Subject)
                .join(Subject, SourceFailureRow.subject_id == Subject.id)
                .where(SourceFailureRow.at >= start, SourceFailureRow.at < end)
            )
            if channel_id is not None:
                query = query.where(SourceFailureRow.subject_id.in_(_monitored(team_id, channel_id)))
            rows = session.execute(query.order_by(SourceFailureRow.at, SourceFailureRow.id))
            return [
                SourceFailureRecord(f.subject_id, s.indicator, f.dataset, f.source, f.message, f.at)
                for f, s in rows
            ]

    def summaries(self, subject_ids: Sequence[int], *, day_start: datetime) -> dict[int, AlertSummary]:
        """Alert summaries of the given subjects; `day_start` is midnight of today in the team's zone."""
        if not subject_ids:
            return {}
        with Session(self.engine) as session:
            subjects = {s.id: s for s in session.scalars(select(Subject).where(Subject.id.in_(subject_ids)))}
            totals = {
                subject_id: (count, last)
                for subject_id, count, last in session.execute(
                    select(
                        ChangeRow.subject_id,
                        func.count(func.distinct(ChangeRow.batch_id)),
                        func.max(ChangeRow.detected_at),
                    )
                    .where(ChangeRow.subject_id.in_(subject_ids), ChangeRow.alerted.is_(True))
                    .group_by(ChangeRow.subject_id)
                )
            }
            today: dict[int, set[str]] = defaultdict(set)
            for subject_id, dataset in session.execute(
                select(ChangeRow.subject_id, ChangeRow.dataset)
                .where(
                    ChangeRow.subject_id.in_(subject_ids),
                    ChangeRow.detected_at >= day_start,
                    ChangeRow.alerted.is_(True),
                )
                .distinct()
            ):
                today[subject_id].add(dataset)
            summaries = {}
            for subject_id, subject in subjects.items():
                count, last = totals.get(subject_id, (0, None))
                summaries[subject_id] = AlertSummary(
                    subject_id=subject_id,
                    indicator=subject.indicator,
                    kind=IndicatorKind(subject.kind),
                    datasets_today=tuple(sorted(today.get(subject_id, ()))),
                    last_alert_at=last,
                    alert_count=int(count),
                )
            return summaries


def _monitored(team_id: str | None, channel_id: str) -> Select[tuple[int]]:
    query = select(Monitor.subject_id).where(Monitor.channel_id == channel_id)
    return query.where(Monitor.team_id == team_id) if team_id is not None else query


def _record(row: ChangeRow, subject: Subject) -> ChangeRecord:
    return ChangeRecord(
        id=row.id,
        subject_id=row.subject_id,
        indicator=subject.indicator,
        kind=IndicatorKind(subject.kind),
        batch_id=row.batch_id,
        detected_at=row.detected_at,
        change=change_from_row(row),
    )
