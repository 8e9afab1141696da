"""Monitors: which channel watches which indicator (subject), who added it, its tags and
mutes (suppression rows of kind `mute`; one until unmuted ends at UNTIMED, a timed one
is made by bot/triage/store.py). Every method is one transaction; `Database.run`
calls them off the event loop."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine, Select, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.errors import NotPermitted, UserInputError
from bot.core.observations import IndicatorKind
from bot.storage.engine import insert_unless_present, one_writer_at_a_time
from bot.storage.models import (
    AlertRow,
    AlertThreadRow,
    ChangeRow,
    DatasetState,
    DeliveryTriageRow,
    FactRow,
    Monitor,
    OutboxRow,
    ReceiverDeliveryRow,
    SilencedChangeRow,
    SourceFailureRow,
    Subject,
    SuppressionRow,
)
from bot.storage.views import AddedMonitor, MonitorView, SubjectView, monitor_view, subject_view
from bot.triage.model import UNTIMED, SuppressionKind

# The advisory lock key (with the team/channel's hash) that serialises a channel's adds.
CHANNEL_WRITES = 727276


class Monitors:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def add(
        self,
        *,
        team_id: str,
        channel_id: str,
        user_id: str,
        indicators: Sequence[tuple[str, IndicatorKind]],
        now: datetime,
        first_check_delay: timedelta = timedelta(0),
        quota: int | None = None,
        tags: Sequence[str] = (),
    ) -> list[AddedMonitor]:
        """Add monitors for a channel (all or nothing). Existing ones are reported as such
        (and get `tags` added to theirs).

        A new subject's first scheduled check comes after `first_check_delay`: the command
        that adds it captures the baseline itself. With `quota`, UserInputError (nothing
        added) when the channel would hold more monitors than that."""
        added: list[AddedMonitor] = []
        with self._sessions.begin() as session:
            # Two adds in one channel at once: the second waits, then sees the first's rows
            # (its quota counts them, its "already monitored" finds them).
            one_writer_at_a_time(session.connection(), CHANNEL_WRITES, f"{team_id}/{channel_id}")
            if quota is not None:
                self._check_quota(session, team_id, channel_id, [i for i, _ in indicators], quota)
            for indicator, kind in indicators:
                subject, new_subject = self._subject_for(session, indicator, kind, now, first_check_delay)
                existing = session.scalar(
                    select(Monitor).where(
                        Monitor.subject_id == subject.id,
                        Monitor.team_id == team_id,
                        Monitor.channel_id == channel_id,
                    )
                )
                if existing is None:
                    session.add(
                        Monitor(
                            subject_id=subject.id,
                            team_id=team_id,
                            channel_id=channel_id,
                            created_by=user_id,
                            created_at=now,
                            tags=sorted(set(tags)),
                        )
                    )
                elif tags and not set(tags) <= set(existing.tags or ()):
                    existing.tags = sorted({*(existing.tags or ()), *tags})
                added.append(AddedMonitor(indicator, kind, subject.id, existing is None, new_subject))
        return added

    @staticmethod
    def _subject_for(
        session: Session, indicator: str, kind: IndicatorKind, now: datetime, first_check_delay: timedelta
    ) -> tuple[Subject, bool]:
        """The indicator's subject, made if there is none (and whether it was made here).
        Another channel may add the same new indicator at the same moment: the insert
        then does nothing and both share the one subject."""
        subject = session.scalar(select(Subject).where(Subject.indicator == indicator))
        if subject is not None:
            return subject, False
        made = session.execute(
            insert_unless_present(session.get_bind().dialect.name, Subject, "indicator")
            .values(
                indicator=indicator, kind=kind.value, created_at=now, next_check_at=now + first_check_delay
            )
            .returning(Subject.id)
        ).scalar()
        subject = session.scalar(select(Subject).where(Subject.indicator == indicator))
        assert subject is not None
        return subject, made is not None

    @staticmethod
    def _check_quota(
        session: Session, team_id: str, channel_id: str, indicators: Sequence[str], quota: int
    ) -> None:
        in_channel = (Monitor.team_id == team_id, Monitor.channel_id == channel_id)
        held = session.scalar(select(func.count()).select_from(Monitor).where(*in_channel)) or 0
        wanted = set(indicators)
        already = session.scalar(
            select(func.count())
            .select_from(Monitor)
            .join(Subject, Monitor.subject_id == Subject.id)
            .where(*in_channel, Subject.indicator.in_(wanted))
        )
        new = len(wanted) - (already or 0)
        if new and held + new > quota:
            raise UserInputError(
                f"This channel monitors {held:,} indicators and may monitor at most {quota:,}: "
                f"adding {new:,} more would go past that, so nothing was added. "
                "Remove monitors it no longer needs, or ask the Watchpost admin for a higher quota."
            )

    def remove(
        self, *, team_id: str, channel_id: str, indicators: Sequence[str], owner: str | None = None
    ) -> list[str]:
        """Remove this channel's monitors; a subject nobody monitors any more is deleted
        with its history. Raises UserInputError, changing nothing, if one is not monitored,
        and NotPermitted if `owner` is given and did not add every one of them."""
        with self._sessions.begin() as session:
            rows = session.execute(
                select(Monitor, Subject)
                .join(Subject, Monitor.subject_id == Subject.id)
                .where(
                    Monitor.team_id == team_id,
                    Monitor.channel_id == channel_id,
                    Subject.indicator.in_(indicators),
                )
            ).all()
            found = {subject.indicator for _, subject in rows}
            missing = [indicator for indicator in indicators if indicator not in found]
            if missing:
                raise UserInputError(
                    "Not monitored in this channel: "
                    + ", ".join(f"`{m}`" for m in missing)
                    + ". Nothing was removed."
                )
            _check_owner(owner, [(monitor, subject) for monitor, subject in rows])
            for monitor, subject in rows:
                session.delete(monitor)
                session.flush()
                others = session.scalar(select(func.count()).where(Monitor.subject_id == subject.id))
                if not others:
                    self._delete_subject(session, subject.id)
            return [indicator for indicator in indicators if indicator in found]

    @staticmethod
    def _delete_subject(session: Session, subject_id: int) -> None:
        # Explicit deletes: SQLite enforces ON DELETE CASCADE only with the pragma on.
        tables = (
            AlertThreadRow,
            SilencedChangeRow,
            SuppressionRow,
            DeliveryTriageRow,
            ReceiverDeliveryRow,
            AlertRow,
            FactRow,
            ChangeRow,
            DatasetState,
            OutboxRow,
            SourceFailureRow,
        )
        for table in tables:
            session.execute(delete(table).where(table.subject_id == subject_id))
        session.execute(delete(Subject).where(Subject.id == subject_id))

    def list(
        self, *, team_id: str | None = None, channel_id: str | None = None, indicator: str | None = None
    ) -> list[MonitorView]:
        with self._sessions() as session:
            query = select(Monitor, Subject).join(Subject, Monitor.subject_id == Subject.id)
            if team_id is not None:
                query = query.where(Monitor.team_id == team_id)
            if channel_id is not None:
                query = query.where(Monitor.channel_id == channel_id)
            if indicator is not None:
                query = query.where(Subject.indicator == indicator)
            rows = session.execute(
                query.order_by(Subject.indicator, Monitor.team_id, Monitor.channel_id)
            ).all()
            stale = stale_by_subject(session, [subject.id for _, subject in rows])
            muted = untimed_mutes(session, [monitor.id for monitor, _ in rows])
            return [
                monitor_view(monitor, subject, stale.get(subject.id, ()), muted.get(monitor.id, ()))
                for monitor, subject in rows
            ]

    def find(self, *, team_id: str, channel_id: str, indicator: str) -> MonitorView | None:
        with self._sessions() as session:
            row = session.execute(_channel_monitor(team_id, channel_id, indicator)).first()
            if row is None:
                return None
            return _view(session, row[0], row[1])

    def subject(self, indicator: str) -> SubjectView | None:
        with self._sessions() as session:
            subject = session.scalar(select(Subject).where(Subject.indicator == indicator))
            return None if subject is None else subject_view(subject)

    def set_muted(
        self,
        *,
        team_id: str,
        channel_id: str,
        indicator: str,
        dataset: str,
        muted: bool,
        by: str,
        now: datetime,
        owner: str | None = None,
    ) -> MonitorView:
        """Mute one dataset of a channel's monitor until unmuted (a `mute` suppression ending
        at UNTIMED, which a timed mute of it in force gives way to), or unmute it (every mute
        of it in force is lifted, timed or not). Raises UserInputError, changing nothing, if
        the indicator is not monitored here or the dataset is already so, and NotPermitted
        if `owner` is given and did not add the monitor."""
        with self._sessions.begin() as session:
            row = session.execute(_channel_monitor(team_id, channel_id, indicator)).first()
            if row is None:
                raise UserInputError(f"`{indicator}` is not monitored in this channel.")
            monitor, subject = row
            _check_owner(owner, [(monitor, subject)])
            mutes = list(
                session.scalars(
                    select(SuppressionRow).where(
                        SuppressionRow.monitor_id == monitor.id,
                        SuppressionRow.kind == SuppressionKind.MUTE.value,
                        SuppressionRow.dataset == dataset,
                        SuppressionRow.lifted_at.is_(None),
                        SuppressionRow.expires_at > now,
                    )
                )
            )
            # Muting again what is muted until unmuted, or unmuting what is not muted at all.
            if any(m.expires_at >= UNTIMED for m in mutes) if muted else not mutes:
                state = "already muted" if muted else "not muted"
                raise UserInputError(f"`{dataset}` is {state} for `{indicator}` in this channel.")
            for mute in mutes:
                mute.lifted_at, mute.lifted_by = now, by
            if muted:
                session.add(
                    SuppressionRow(
                        monitor_id=monitor.id,
                        subject_id=subject.id,
                        kind=SuppressionKind.MUTE.value,
                        dataset=dataset,
                        reason="muted with /monitor mute",
                        created_by=by,
                        created_at=now,
                        expires_at=UNTIMED,
                    )
                )
            session.flush()
            return _view(session, monitor, subject)


def _view(session: Session, monitor: Monitor, subject: Subject) -> MonitorView:
    stale = stale_by_subject(session, [subject.id])
    muted = untimed_mutes(session, [monitor.id])
    return monitor_view(monitor, subject, stale.get(subject.id, ()), muted.get(monitor.id, ()))


def untimed_mutes(session: Session, monitor_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """Per monitor: the datasets muted until unmuted."""
    found: dict[int, set[str]] = defaultdict(set)
    ids = sorted(set(monitor_ids))
    for start in range(0, len(ids), 500):
        for monitor_id, dataset in session.execute(
            select(SuppressionRow.monitor_id, SuppressionRow.dataset).where(
                SuppressionRow.monitor_id.in_(ids[start : start + 500]),
                SuppressionRow.kind == SuppressionKind.MUTE.value,
                SuppressionRow.lifted_at.is_(None),
                SuppressionRow.expires_at >= UNTIMED,
            )
        ):
            if monitor_id is not None and dataset is not None:  # by the filter and how mutes are made
                found[monitor_id].add(dataset)
    return {key: tuple(sorted(value)) for key, value in found.items()}


def _check_owner(owner: str | None, rows: Iterable[tuple[Monitor, Subject]]) -> None:
    """NotPermitted, naming who added them, for the monitors `owner` did not add."""
    if owner is None:
        return
    others = {
        subject.indicator: monitor.created_by for monitor, subject in rows if monitor.created_by != owner
    }
    if others:
        raise NotPermitted(dict(sorted(others.items())))


def _channel_monitor(team_id: str, channel_id: str, indicator: str) -> Select[tuple[Monitor, Subject]]:
    """A channel's monitor of one indicator, with its subject."""
    return (
        select(Monitor, Subject)
        .join(Subject, Monitor.subject_id == Subject.id)
        .where(Monitor.team_id == team_id, Monitor.channel_id == channel_id, Subject.indicator == indicator)
    )


def stale_by_subject(session: Session, subject_ids: list[int]) -> dict[int, tuple[str, ...]]:
    if not subject_ids:
        return {}
    stale: dict[int, list[str]] = defaultdict(list)
    for subject_id, dataset in session.execute(
        select(DatasetState.subject_id, DatasetState.dataset).where(
            DatasetState.subject_id.in_(subject_ids), DatasetState.stale.is_(True)
        )
    ):
        stale[subject_id].append(dataset)
    return {key: tuple(sorted(value)) for key, value in stale.items()}
