"""The alert log, read: pages of alerts for the API (a cursor over ids that are numbered in
commit order, see bot/alerts/store/outbox.py `record_alert`), and one indicator's history in
numbers. The webhook deliveries written with each alert are queued in bot/alerts/store/outbox.py."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Engine, exists, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.observations import Change, IndicatorKind
from bot.storage.models import (
    AlertRow,
    AlertThreadRow,
    ChangeRow,
    DeliveryTriageRow,
    Monitor,
    OutboxRow,
    Subject,
)
from bot.storage.views import OutboxKind, change_from_row
from bot.triage.model import Triage, TriageState, overall_triage


@dataclass(frozen=True)
class AlertChannel:
    """An alert's delivery to one Slack channel: how far it got, and where that channel's
    team is with it (each channel triages its own copy)."""

    team_id: str
    channel_id: str
    datasets: tuple[str, ...]
    status: str  # pending, delivered, abandoned
    delivered_at: datetime | None
    delivery_id: int = 0
    triage: Triage = field(default_factory=Triage)
    follow_up: bool = False  # posted in the thread of an earlier alert of the channel


@dataclass(frozen=True)
class AlertRecord:
    """One check of one indicator that found changes worth an alert."""

    id: int
    subject_id: int
    indicator: str
    kind: IndicatorKind
    batch_id: str
    detected_at: datetime
    changes: tuple[Change, ...] = ()
    channels: tuple[AlertChannel, ...] = ()
    triage: Triage = field(default_factory=Triage)

    @property
    def datasets(self) -> tuple[str, ...]:
        return tuple(sorted({change.dataset for change in self.changes}))


@dataclass(frozen=True)
class AlertQuery:
    """Alerts with an id above `after_id`, oldest first, narrowed by the filters given.
    `start` is inclusive and `end` exclusive (detection time)."""

    after_id: int = 0
    limit: int = 50
    indicator: str | None = None
    dataset: str | None = None
    channel_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    triage_state: TriageState | None = None


@dataclass(frozen=True)
class DeliveryQuery:
    """Deliveries (an alert's copy in one channel) with an id above `after_id`, oldest
    first, narrowed by the filters given."""

    after_id: int = 0
    limit: int = 50
    delivery_id: int | None = None
    alert_id: int | None = None
    team_id: str | None = None
    channel_id: str | None = None
    triage_state: TriageState | None = None


@dataclass(frozen=True)
class DeliveryPage:
    deliveries: list[tuple[AlertRecord, AlertChannel]]
    has_more: bool


@dataclass(frozen=True)
class AlertPage:
    alerts: list[AlertRecord]
    has_more: bool


@dataclass(frozen=True)
class IndicatorHistory:
    """An indicator's history in numbers."""

    alerts: int
    first_alert_at: datetime | None
    last_alert_at: datetime | None
    changes_by_dataset: dict[str, int] = field(default_factory=dict)
    last_change_at: datetime | None = None


class AlertStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    # --- the API's view -------------------------------------------------------------

    def page(self, query: AlertQuery) -> AlertPage:
        """One page of alerts. A row visible here has every smaller id already visible
        (ids are drawn in commit order), so resuming after the last id never skips one."""
        with self._sessions() as session:
            statement = (
                select(AlertRow, Subject)
                .join(Subject, AlertRow.subject_id == Subject.id)
                .where(AlertRow.id > query.after_id)
            )
            if query.indicator is not None:
                statement = statement.where(Subject.indicator == query.indicator)
            if query.start is not None:
                statement = statement.where(AlertRow.detected_at >= query.start)
            if query.end is not None:
                statement = statement.where(AlertRow.detected_at < query.end)
            if query.dataset is not None:
                statement = statement.where(
                    exists().where(
                        ChangeRow.batch_id == AlertRow.batch_id,
                        ChangeRow.dataset == query.dataset,
                        ChangeRow.alerted.is_(True),
                    )
                )
            if query.triage_state is not None:
                statement = statement.where(_has_delivery_in(query.triage_state, query.channel_id))
            if query.channel_id is not None:
                statement = statement.where(
                    exists().where(
                        OutboxRow.batch_id == AlertRow.batch_id, OutboxRow.channel_id == query.channel_id
                    )
                )
            rows = session.execute(statement.order_by(AlertRow.id).limit(query.limit + 1)).all()
            has_more = len(rows) > query.limit
            return AlertPage(self.records(session, [row._tuple() for row in rows[: query.limit]]), has_more)

    def get(self, alert_id: int) -> AlertRecord | None:
        with self._sessions() as session:
            rows = session.execute(
                select(AlertRow, Subject)
                .join(Subject, AlertRow.subject_id == Subject.id)
                .where(AlertRow.id == alert_id)
            ).all()
            records = self.records(session, [row._tuple() for row in rows])
            return records[0] if records else None

    def deliveries(self, query: DeliveryQuery) -> DeliveryPage:
        """One page of deliveries, each with its alert (narrowed to that delivery's channel)."""
        with self._sessions() as session:
            statement = (
                select(OutboxRow.id, OutboxRow.batch_id)
                .outerjoin(DeliveryTriageRow, DeliveryTriageRow.outbox_id == OutboxRow.id)
                .where(OutboxRow.id > query.after_id, OutboxRow.kind == OutboxKind.ALERT.value)
            )
            if query.delivery_id is not None:
                statement = statement.where(OutboxRow.id == query.delivery_id)
            if query.alert_id is not None:
                statement = statement.join(AlertRow, AlertRow.batch_id == OutboxRow.batch_id).where(
                    AlertRow.id == query.alert_id
                )
            if query.team_id is not None:
                statement = statement.where(OutboxRow.team_id == query.team_id)
            if query.channel_id is not None:
                statement = statement.where(OutboxRow.channel_id == query.channel_id)
            if query.triage_state is TriageState.OPEN:
                statement = statement.where(
                    or_(DeliveryTriageRow.state.is_(None), DeliveryTriageRow.state == TriageState.OPEN.value)
                )
            elif query.triage_state is not None:
                statement = statement.where(DeliveryTriageRow.state == query.triage_state.value)
            found = session.execute(statement.order_by(OutboxRow.id).limit(query.limit + 1)).all()
            page = found[: query.limit]
            alert_rows = session.execute(
                select(AlertRow, Subject)
                .join(Subject, AlertRow.subject_id == Subject.id)
                .where(AlertRow.batch_id.in_({batch for _, batch in page}))
            ).all()
            by_batch = {
                record.batch_id: record for record in self.records(session, [r._tuple() for r in alert_rows])
            }
            deliveries = []
            for delivery_id, batch in page:
                record = by_batch.get(batch)
                if record is None:
                    continue  # a check whose alert row is not written (nothing alerted)
                [channel] = [c for c in record.channels if c.delivery_id == delivery_id]
                deliveries.append((record, channel))
            return DeliveryPage(deliveries, len(found) > query.limit)

    def delivery(self, delivery_id: int) -> tuple[AlertRecord, AlertChannel] | None:
        """One channel's copy of an alert, with its alert; None if there is no such delivery."""
        found = self.deliveries(DeliveryQuery(delivery_id=delivery_id, limit=1)).deliveries
        return found[0] if found else None

    @staticmethod
    def records(session: Session, rows: Sequence[tuple[AlertRow, Subject]]) -> list[AlertRecord]:
        batches = [alert.batch_id for alert, _ in rows]
        if not batches:
            return []
        changes: dict[str, list[Change]] = defaultdict(list)
        for change in session.scalars(
            select(ChangeRow)
            .where(ChangeRow.batch_id.in_(batches), ChangeRow.alerted.is_(True))
            .order_by(ChangeRow.id)
        ):
            changes[change.batch_id].append(change_from_row(change))
        channels: dict[str, list[AlertChannel]] = defaultdict(list)
        threaded = set(
            session.scalars(
                select(AlertThreadRow.outbox_id)
                .join(OutboxRow, OutboxRow.id == AlertThreadRow.outbox_id)
                .where(OutboxRow.batch_id.in_(batches))
            )
        )
        for outbox, triage_row in session.execute(
            select(OutboxRow, DeliveryTriageRow)
            .outerjoin(DeliveryTriageRow, DeliveryTriageRow.outbox_id == OutboxRow.id)
            .where(OutboxRow.batch_id.in_(batches))
            .order_by(OutboxRow.id)
        ):
            status = "delivered" if outbox.delivered_at else "abandoned" if outbox.abandoned_at else "pending"
            channels[outbox.batch_id].append(
                AlertChannel(
                    outbox.team_id,
                    outbox.channel_id,
                    tuple(outbox.datasets),
                    status,
                    outbox.delivered_at,
                    delivery_id=outbox.id,
                    triage=_triage(triage_row),
                    follow_up=outbox.id in threaded,
                )
            )
        return [
            AlertRecord(
                id=alert.id,
                subject_id=alert.subject_id,
                indicator=subject.indicator,
                kind=IndicatorKind(subject.kind),
                batch_id=alert.batch_id,
                detected_at=alert.detected_at,
                changes=tuple(changes[alert.batch_id]),
                channels=tuple(channels[alert.batch_id]),
                triage=overall_triage([channel.triage for channel in channels[alert.batch_id]]),
            )
            for alert, subject in rows
        ]

    def indicator_history(self, subject_id: int) -> IndicatorHistory:
        with self._sessions() as session:
            count, first, last = session.execute(
                select(func.count(), func.min(AlertRow.detected_at), func.max(AlertRow.detected_at)).where(
                    AlertRow.subject_id == subject_id
                )
            ).one()
            by_dataset: dict[str, int] = {}
            last_change: datetime | None = None
            for dataset, changes, latest in session.execute(
                select(ChangeRow.dataset, func.count(), func.max(ChangeRow.detected_at))
                .where(ChangeRow.subject_id == subject_id)
                .group_by(ChangeRow.dataset)
                .order_by(ChangeRow.dataset)
            ):
                by_dataset[dataset] = int(changes)
                last_change = latest if last_change is None or latest > last_change else last_change
            return IndicatorHistory(int(count), first, last, by_dataset, last_change)

    def teams(self, channel_id: str, *, anywhere: bool = True) -> list[str]:
        """The workspaces whose monitors are in `channel_id`; if none and `anywhere`,
        every workspace with monitors (at most two: is there exactly one?)."""
        with self._sessions() as session:
            query = select(Monitor.team_id).distinct().order_by(Monitor.team_id).limit(2)
            found = list(session.scalars(query.where(Monitor.channel_id == channel_id)))
            return found or (list(session.scalars(query)) if anywhere else [])


def _triage(row: DeliveryTriageRow | None) -> Triage:
    if row is None:
        return Triage()
    return Triage(TriageState(row.state), row.set_by, row.set_at, row.reason)


def _has_delivery_in(state: TriageState, channel_id: str | None) -> ColumnElement[bool]:
    """The alert has a delivery (in `channel_id`, if given) whose triage is `state`."""
    stated = (
        or_(DeliveryTriageRow.state.is_(None), DeliveryTriageRow.state == state.value)
        if state is TriageState.OPEN
        else DeliveryTriageRow.state == state.value
    )
    deliveries = (
        select(OutboxRow.id)
        .outerjoin(DeliveryTriageRow, DeliveryTriageRow.outbox_id == OutboxRow.id)
        .where(OutboxRow.batch_id == AlertRow.batch_id, stated)
    )
    if channel_id is not None:
        deliveries = deliveries.where(OutboxRow.channel_id == channel_id)
    return deliveries.exists()
