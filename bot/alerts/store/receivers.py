"""The receiver queue: one row per alert, channel and HTTP receiver (webhook, MISP,
TheHive, any later one), written in the same transaction as the alert (`enqueue_receivers`,
called by storage/outbox.record_alert), claimed under a lease, settled once the receiver
answered, retried or given up with the reason kept. bot/alerts/delivery/receivers.py sends them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.store.alerts import AlertRecord, AlertStore
from bot.storage.models import AlertRow, Monitor, OutboxRow, ReceiverDeliveryRow, Subject

WEBHOOK = "webhook"
MISP = "misp"
THEHIVE = "thehive"

MISP_TAG_PREFIX = "misp:"


@dataclass(frozen=True)
class ReceiverRoute:
    """Which alerts one receiver gets: every alert once with no channel (`everything`,
    the global webhook), and each channel's delivery of it for `channels` (None: every
    channel)."""

    receiver: str
    everything: bool = False
    channels: frozenset[str] | None = frozenset()

    def takes(self, channel_id: str) -> bool:
        return self.channels is None or channel_id in self.channels


@dataclass(frozen=True)
class PendingDelivery:
    """A delivery with the alert it carries (its changes narrowed to the target's datasets:
    a channel's delivery leaves out what the channel muted)."""

    id: int
    receiver: str
    alert: AlertRecord
    team_id: str | None
    channel_id: str | None  # None: every channel's (the global webhook)
    attempts: int
    created_at: datetime
    origin_event: str | None = None  # MISP: the event the monitor came from
    # An earlier attempt may have reached the receiver (it failed or timed out after
    # sending, or its process died holding the lease): look before sending again.
    uncertain: bool = False

    @property
    def idempotency_key(self) -> str:
        """The same for every attempt of one delivery, different for each (alert, channel,
        receiver). Webhooks keep the key they always had."""
        key = f"{self.alert.batch_id}-{self.channel_id or 'all'}"
        return key if self.receiver == WEBHOOK else f"{key}-{self.receiver}"


@dataclass(frozen=True)
class ReceiverHealth:
    """One receiver's queue as `/monitor health` and /api/v1/health show it."""

    receiver: str
    backlog: int = 0
    abandoned: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None
    off: str = ""  # why the settings leave it off ("": on)


def misp_origin(tags: Sequence[str]) -> str | None:
    """The MISP event a monitor came from: its `misp:<event uuid>` tag (the first)."""
    for tag in tags:
        if tag.startswith(MISP_TAG_PREFIX) and len(tag) > len(MISP_TAG_PREFIX):
            return tag[len(MISP_TAG_PREFIX) :]
    return None


def enqueue_receivers(
    session: Session,
    routes: Sequence[ReceiverRoute],
    alert_id: int,
    subject_id: int,
    datasets: list[str],
    posted: Sequence[OutboxRow],
    now: datetime,
) -> None:
    """Every receiver's deliveries of one alert: once for the receiver that hears
    everything, and once per channel the alert was posted to that the receiver takes."""
    rows = []
    tags: dict[tuple[str | None, str | None], list[str]] = {
        (team_id, channel_id): list(monitor_tags or ())
        for team_id, channel_id, monitor_tags in session.execute(
            select(Monitor.team_id, Monitor.channel_id, Monitor.tags).where(Monitor.subject_id == subject_id)
        )
    }
    for route in routes:
        targets: list[tuple[str | None, str | None, list[str]]] = []
        if route.everything:
            targets.append((None, None, datasets))
        targets += [
            (row.team_id, row.channel_id, row.datasets) for row in posted if route.takes(row.channel_id)
        ]
        rows += [
            ReceiverDeliveryRow(
                alert_id=alert_id,
                subject_id=subject_id,
                receiver=route.receiver,
                team_id=team_id,
                channel_id=channel_id,
                datasets=list(target_datasets),
                # The MISP event the channel's monitor came from (`/monitor misp`).
                origin_event=misp_origin(tags.get((team_id, channel_id), ()))
                if route.receiver == MISP
                else None,
                created_at=now,
                next_attempt_at=now,
                attempts=0,
            )
            for team_id, channel_id, target_datasets in targets
        ]
    session.add_all(rows)


class ReceiverQueue:
    """Deliveries to HTTP receivers, claimed and settled like the Slack outbox."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def claim(self, *, now: datetime, lease: timedelta, limit: int) -> list[PendingDelivery]:
        """Take due deliveries, oldest first, leasing them so nobody else sends them."""
        with self._sessions.begin() as session:
            query = (
                select(ReceiverDeliveryRow)
                .where(
                    ReceiverDeliveryRow.delivered_at.is_(None),
                    ReceiverDeliveryRow.abandoned_at.is_(None),
                    ReceiverDeliveryRow.next_attempt_at <= now,
                    or_(
                        ReceiverDeliveryRow.claimed_until.is_(None),
                        ReceiverDeliveryRow.claimed_until <= now,
                    ),
                )
                .order_by(ReceiverDeliveryRow.id)
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
            records = AlertStore.records(session, [row._tuple() for row in alert_rows])
            alerts = {record.id: record for record in records}
            claimed = []
            for delivery in deliveries:
                uncertain = delivery.attempts > 0 or delivery.claimed_until is not None
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
                    PendingDelivery(
                        id=delivery.id,
                        receiver=delivery.receiver,
                        alert=narrowed,
                        team_id=delivery.team_id,
                        channel_id=delivery.channel_id,
                        attempts=delivery.attempts,
                        created_at=delivery.created_at,
                        origin_event=delivery.origin_event,
                        uncertain=uncertain,
                    )
                )
            return claimed

    def mark_delivered(self, delivery_id: int, *, now: datetime) -> None:
        self._finish(delivery_id, now, delivered_at=now, last_error=None)

    def mark_failed(self, delivery_id: int, *, error: str, now: datetime, retry_at: datetime) -> None:
        self._finish(delivery_id, now, last_error=error[:2000], next_attempt_at=retry_at)

    def mark_abandoned(self, delivery_id: int, *, error: str, now: datetime) -> None:
        self._finish(delivery_id, now, last_error=error[:2000], abandoned_at=now)

    def _finish(self, delivery_id: int, now: datetime, **values: object) -> None:
        """Record how an attempt ended and release the lease."""
        with self._sessions.begin() as session:
            session.execute(
                update(ReceiverDeliveryRow)
                .where(ReceiverDeliveryRow.id == delivery_id)
                .values(
                    claimed_until=None,
                    attempts=ReceiverDeliveryRow.attempts + 1,
                    last_attempt_at=now,
                    **values,
                )
            )

    def backlog(self, receiver: str | None = None) -> int:
        """Deliveries neither made nor given up (of one receiver, or of all)."""
        with self._sessions() as session:
            query = select(func.count()).where(
                ReceiverDeliveryRow.delivered_at.is_(None), ReceiverDeliveryRow.abandoned_at.is_(None)
            )
            if receiver is not None:
                query = query.where(ReceiverDeliveryRow.receiver == receiver)
            return int(session.scalar(query) or 0)

    def health(self, receivers: Sequence[str]) -> list[ReceiverHealth]:
        """Per receiver: its backlog, how many deliveries were given up, and the error of
        its latest attempt (a failure or a give-up; none once an attempt succeeded again)."""
        found = []
        with self._sessions() as session:
            for receiver in receivers:
                mine = ReceiverDeliveryRow.receiver == receiver
                abandoned = session.scalar(
                    select(func.count()).where(mine, ReceiverDeliveryRow.abandoned_at.is_not(None))
                )
                latest = session.execute(
                    select(ReceiverDeliveryRow.last_error, ReceiverDeliveryRow.last_attempt_at)
                    .where(mine, ReceiverDeliveryRow.last_attempt_at.is_not(None))
                    .order_by(ReceiverDeliveryRow.last_attempt_at.desc(), ReceiverDeliveryRow.id.desc())
                    .limit(1)
                ).first()
                last = latest if latest is not None and latest[0] else None
                found.append(
                    ReceiverHealth(
                        receiver,
                        backlog=self.backlog(receiver),
                        abandoned=int(abandoned or 0),
                        last_error=last[0] if last else None,
                        last_error_at=last[1] if last else None,
                    )
                )
        return found
