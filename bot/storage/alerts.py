"""The alert log, read: pages of alerts for the API (a cursor over ids that are numbered in
commit order, see Store._record_alert), one indicator's history in numbers, and the
webhook deliveries written with each alert, claimed and settled like the Slack outbox."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, exists, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.model.observations import Change, IndicatorKind
from bot.storage.models import AlertRow, ChangeRow, Monitor, OutboxRow, Subject, WebhookDeliveryRow
from bot.storage.repository import change_from_row


@dataclass(frozen=True)
class AlertChannel:
    """Where an alert went in Slack, and how far its delivery got."""

    team_id: str
    channel_id: str
    datasets: tuple[str, ...]
    status: str  # pending, delivered, abandoned
    delivered_at: datetime | None


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


@dataclass(frozen=True)
class PendingWebhook:
    """A webhook delivery with the alert it carries (its changes narrowed to the target's
    datasets: a channel's webhook leaves out what the channel muted)."""

    id: int
    alert: AlertRecord
    team_id: str | None
    channel_id: str | None  # None: the global webhook
    attempts: int
    created_at: datetime


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
            if query.channel_id is not None:
                statement = statement.where(
                    exists().where(
                        OutboxRow.batch_id == AlertRow.batch_id, OutboxRow.channel_id == query.channel_id
                    )
                )
            rows = session.execute(statement.order_by(AlertRow.id).limit(query.limit + 1)).all()
            has_more = len(rows) > query.limit
            return AlertPage(self._records(session, [row._tuple() for row in rows[: query.limit]]), has_more)

    def get(self, alert_id: int) -> AlertRecord | None:
        with self._sessions() as session:
            rows = session.execute(
                select(AlertRow, Subject)
                .join(Subject, AlertRow.subject_id == Subject.id)
                .where(AlertRow.id == alert_id)
            ).all()
            records = self._records(session, [row._tuple() for row in rows])
            return records[0] if records else None

    @staticmethod
    def _records(session: Session, rows: Sequence[tuple[AlertRow, Subject]]) -> list[AlertRecord]:
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
        for outbox in session.scalars(
            select(OutboxRow).where(OutboxRow.batch_id.in_(batches)).order_by(OutboxRow.id)
        ):
            status = "delivered" if outbox.delivered_at else "abandoned" if outbox.abandoned_at else "pending"
            channels[outbox.batch_id].append(
                AlertChannel(
                    outbox.team_id, outbox.channel_id, tuple(outbox.datasets), status, outbox.delivered_at
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

    # --- webhook deliveries ------------------------------------------------------------

    def claim_webhooks(self, *, now: datetime, lease: timedelta, limit: int) -> list[PendingWebhook]:
        """Take due deliveries, oldest first, leasing them so nobody else sends them."""
        with self._sessions.begin() as session:
            query = (
                select(WebhookDeliveryRow)
                .where(
                    WebhookDeliveryRow.delivered_at.is_(None),
                    WebhookDeliveryRow.abandoned_at.is_(None),
                    WebhookDeliveryRow.next_attempt_at <= now,
                    or_(WebhookDeliveryRow.claimed_until.is_(None), WebhookDeliveryRow.claimed_until <= now),
                )
                .order_by(WebhookDeliveryRow.id)
                .limit(limit)
            )
            if self.engine.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            deliveries = list(session.scalars(query))
            if not deliveries:
                return []
            alert_rows = session.execute(
                select(AlertRow, Subject)
                .join(Subject, AlertRow.subject_id == Subject.id)
                .where(AlertRow.id.in_({d.alert_id for d in deliveries}))
            ).all()
            records = self._records(session, [row._tuple() for row in alert_rows])
            alerts = {record.id: record for record in records}
            claimed = []
            for delivery in deliveries:
                delivery.claimed_until = now + lease
                alert = alerts[delivery.alert_id]
                wanted = set(delivery.datasets)
                narrowed = AlertRecord(
                    id=alert.id,
                    subject_id=alert.subject_id,
                    indicator=alert.indicator,
                    kind=alert.kind,
                    batch_id=alert.batch_id,
                    detected_at=alert.detected_at,
                    changes=tuple(c for c in alert.changes if c.dataset in wanted),
                    channels=alert.channels,
                )
                claimed.append(
                    PendingWebhook(
                        delivery.id,
                        narrowed,
                        delivery.team_id,
                        delivery.channel_id,
                        delivery.attempts,
                        delivery.created_at,
                    )
                )
            return claimed

    def mark_webhook_delivered(self, delivery_id: int, *, now: datetime) -> None:
        self._finish(delivery_id, delivered_at=now, last_error=None)

    def mark_webhook_failed(self, delivery_id: int, *, error: str, retry_at: datetime) -> None:
        self._finish(delivery_id, last_error=error[:2000], next_attempt_at=retry_at)

    def mark_webhook_abandoned(self, delivery_id: int, *, error: str, now: datetime) -> None:
        self._finish(delivery_id, last_error=error[:2000], abandoned_at=now)

    def _finish(self, delivery_id: int, **values: object) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.id == delivery_id)
                .values(claimed_until=None, attempts=WebhookDeliveryRow.attempts + 1, **values)
            )

    def webhook_backlog(self) -> int:
        with self._sessions() as session:
            query = select(func.count()).where(
                WebhookDeliveryRow.delivered_at.is_(None), WebhookDeliveryRow.abandoned_at.is_(None)
            )
            return int(session.scalar(query) or 0)
