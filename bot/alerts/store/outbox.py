"""The outbox: every message waiting for Slack, written in the same transaction as what it
tells — alerts and follow-ups with the check that found them (`enqueue_routed`,
`record_alert`), lookalike findings with the finding (bot/watches/store/lookalikes.py), notices of
ended suppressions (bot/triage/store.py) — claimed one per channel at a time, in order,
and kept until the transport confirms. Deliveries to HTTP receivers (webhooks, MISP,
TheHive) are written with the alert too (`record_alert`, bot/alerts/store/receivers.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, or_, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.model import AlertTarget, ChangeVerdict, Routed, change_verdicts
from bot.alerts.store.receivers import ReceiverRoute, enqueue_receivers
from bot.core.observations import Change, IndicatorKind
from bot.storage.models import (
    AlertRow,
    AlertThreadRow,
    ChangeRow,
    LookalikeFindingRow,
    LookalikeSightingRow,
    Monitor,
    OutboxRow,
    Subject,
)
from bot.storage.views import (
    OutboxKind,
    PendingAlert,
    PendingLookalike,
    PendingMessage,
    PendingNotice,
    change_from_row,
)
from bot.triage.store import (
    DEFAULT_FOLLOW_UP_WINDOW,
    active_suppressions,
    is_silenced,
    record_silenced,
    silenced_keys,
    suppression_view,
    thread_follow_ups,
)
from bot.watches.store.lookalikes import finding_of, sighting_of
from bot.watches.store.suppressions import watch_suppression_view

# pg_advisory_xact_lock key (with the schema's hash) that numbers alerts in commit order.
ALERT_ORDER_LOCK = 727275


class Outbox:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def claim(self, *, now: datetime, lease: timedelta, limit: int) -> list[PendingMessage]:
        """Take the oldest undelivered message of each channel if it is due, leasing it so
        nobody else sends it. One per channel at a time keeps each channel's messages in
        order (a failed one is retried before anything after it) and paces the channel."""
        with self._sessions.begin() as session:
            heads = (
                select(func.min(OutboxRow.id))
                .where(OutboxRow.delivered_at.is_(None), OutboxRow.abandoned_at.is_(None))
                .group_by(OutboxRow.team_id, OutboxRow.channel_id)
            )
            query = (
                select(OutboxRow)
                .where(
                    OutboxRow.id.in_(heads),
                    OutboxRow.next_attempt_at <= now,
                    or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until <= now),
                )
                .order_by(OutboxRow.id)
                .limit(limit)
            )
            if self.engine.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True, of=OutboxRow)
            rows = list(session.scalars(query))
            alerts = _pending_alerts(session, [row for row in rows if row.kind == OutboxKind.ALERT.value])
            others = {
                row.id: message
                for row in rows
                if row.kind != OutboxKind.ALERT.value
                for message in [_pending_other(session, row)]
                if message is not None
            }
            claimed: list[PendingMessage] = []
            for row in rows:
                found = alerts.get(row.id) or others.get(row.id)
                if found is None:
                    # What it told is gone (a finding or suppression deleted with its monitor).
                    row.abandoned_at, row.last_error = now, "nothing left to tell"
                    continue
                row.claimed_until = now + lease
                claimed.append(found)
            return claimed

    def mark_delivered(self, alert_id: int, *, now: datetime, message_ts: str | None) -> None:
        """Slack took it (as `message_ts`). A finding's alert is where its later
        certificates go: the finding keeps its ts."""
        with self._sessions.begin() as session:
            row = session.get(OutboxRow, alert_id)
            if row is None:
                return
            row.claimed_until, row.attempts = None, row.attempts + 1
            row.delivered_at, row.message_ts = now, message_ts
            if row.kind == OutboxKind.LOOKALIKE.value and row.finding_id is not None:
                session.execute(
                    update(LookalikeFindingRow)
                    .where(LookalikeFindingRow.id == row.finding_id)
                    .values(message_ts=message_ts)
                )

    def mark_failed(self, alert_id: int, *, error: str, retry_at: datetime) -> None:
        self._finish_attempt(alert_id, last_error=error[:2000], next_attempt_at=retry_at)

    def mark_abandoned(self, alert_id: int, *, error: str, now: datetime) -> None:
        self._finish_attempt(alert_id, last_error=error[:2000], abandoned_at=now)

    def _finish_attempt(self, alert_id: int, **values: object) -> None:
        """Record how a delivery attempt ended and release the alert's lease."""
        with self._sessions.begin() as session:
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == alert_id)
                .values(claimed_until=None, attempts=OutboxRow.attempts + 1, **values)
            )

    def delivered(self, outbox_ids: list[int]) -> dict[int, bool]:
        """Per delivery: whether the transport confirmed it."""
        with self._sessions() as session:
            rows = session.execute(
                select(OutboxRow.id, OutboxRow.delivered_at).where(OutboxRow.id.in_(outbox_ids))
            ).all()
        return {outbox_id: at is not None for outbox_id, at in rows}

    def undelivered_count(self) -> int:
        with self._sessions() as session:
            query = select(func.count()).where(
                OutboxRow.delivered_at.is_(None), OutboxRow.abandoned_at.is_(None)
            )
            return int(session.scalar(query) or 0)


def _pending_alerts(session: Session, rows: Sequence[OutboxRow]) -> dict[int, PendingAlert]:
    """Alert rows with their subject, their changes less what a stage silenced in their
    channel, and their parent's ts when they are follow-ups."""
    batches = {row.batch_id for row in rows if row.batch_id}
    subjects = {
        subject.id: subject
        for subject in session.scalars(
            select(Subject).where(Subject.id.in_({row.subject_id for row in rows if row.subject_id}))
        )
    }
    changes: dict[str, list[ChangeRow]] = defaultdict(list)
    if batches:
        for change in session.scalars(
            select(ChangeRow).where(ChangeRow.batch_id.in_(batches)).order_by(ChangeRow.id)
        ):
            changes[change.batch_id].append(change)
    # Values a stage silenced in one channel (a suppression) leave its alert out.
    silenced = silenced_keys(session, batches)
    parents: dict[int, str | None] = {
        outbox_id: ts
        for outbox_id, ts in session.execute(
            select(AlertThreadRow.outbox_id, OutboxRow.message_ts)
            .join(OutboxRow, OutboxRow.id == AlertThreadRow.parent_id)
            .where(AlertThreadRow.outbox_id.in_([row.id for row in rows]))
        )
    }
    pending = {}
    for row in rows:
        subject = subjects.get(row.subject_id or 0)
        if subject is None or row.batch_id is None:
            continue
        wanted = set(row.datasets)
        quiet = silenced.get((row.batch_id, row.channel_id), set())
        pending[row.id] = PendingAlert(
            id=row.id,
            team_id=row.team_id,
            channel_id=row.channel_id,
            indicator=subject.indicator,
            kind=IndicatorKind(subject.kind),
            created_at=row.created_at,
            attempts=row.attempts,
            changes=[
                change
                for change in (change_from_row(c) for c in changes[row.batch_id])
                if change.dataset in wanted and change.alert and not is_silenced(change, quiet)
            ],
            uncertain=row.attempts > 0 or row.claimed_until is not None,
            follow_up=row.id in parents,
            parent_ts=parents.get(row.id),
        )
    return pending


def _pending_other(session: Session, row: OutboxRow) -> PendingLookalike | PendingNotice | None:
    """A lookalike message or a notice with what it tells, read back; None if that is gone."""
    uncertain = row.attempts > 0 or row.claimed_until is not None
    if row.kind == OutboxKind.NOTICE.value:
        suppression = suppression_view(session, row.suppression_id or 0) or watch_suppression_view(
            session, row.suppression_id or 0
        )
        if suppression is None:
            return None
        return PendingNotice(
            row.id, row.team_id, row.channel_id, suppression, row.created_at, row.attempts, uncertain
        )
    finding = session.get(LookalikeFindingRow, row.finding_id or 0)
    if finding is None:
        return None
    sighting = None
    if row.kind == OutboxKind.SIGHTING.value:
        sighting_row = session.get(LookalikeSightingRow, row.sighting_id or 0)
        if sighting_row is None:
            return None
        sighting = sighting_of(sighting_row)
    return PendingLookalike(
        id=row.id,
        team_id=row.team_id,
        channel_id=row.channel_id,
        finding=finding_of(finding, 0, False),
        sighting=sighting,
        parent_ts=finding.message_ts,
        created_at=row.created_at,
        attempts=row.attempts,
        uncertain=uncertain,
    )


def alert_targets(session: Session, subject_id: int, now: datetime) -> list[AlertTarget]:
    """Every monitor of the subject as the alert policy sees it: its channel and the
    suppressions in force (its mutes, until unmuted or timed, among them)."""
    monitors = list(session.scalars(select(Monitor).where(Monitor.subject_id == subject_id)))
    suppressions = active_suppressions(session, [m.id for m in monitors], now)
    return [AlertTarget(m.id, m.team_id, m.channel_id, suppressions.get(m.id, ())) for m in monitors]


def enqueue_routed(
    session: Session,
    subject_id: int,
    batch_id: str,
    changes: list[Change],
    decisions: Sequence[Routed],
    now: datetime,
    *,
    follow_up_window: timedelta = DEFAULT_FOLLOW_UP_WINDOW,
) -> tuple[list[OutboxRow], list[ChangeVerdict]]:
    """One outbox row per channel the policy gave datasets to alert. What it silenced is
    kept (bot/triage/store.py); a row whose channel has an open alert of the subject
    younger than `follow_up_window` goes in that alert's thread. Returns the rows and
    every change's fate in every channel (model/routing.change_verdicts)."""
    posted = [
        OutboxRow(
            subject_id=subject_id,
            team_id=decision.target.team_id,
            channel_id=decision.target.channel_id,
            batch_id=batch_id,
            datasets=list(decision.datasets),
            created_at=now,
            next_attempt_at=now,
            attempts=0,
        )
        for decision in decisions
        if decision.datasets
    ]
    session.add_all(posted)
    record_silenced(session, subject_id, batch_id, decisions, now)
    parents = thread_follow_ups(session, subject_id, posted, now, follow_up_window)
    session.flush()
    deliveries = {row.channel_id: row.id for row in posted}
    return posted, change_verdicts(changes, list(decisions), deliveries, parents)


def record_alert(
    session: Session,
    routes: Sequence[ReceiverRoute],
    subject_id: int,
    batch_id: str,
    changes: list[Change],
    posted: list[OutboxRow],
    now: datetime,
) -> None:
    """The check's alert row and its deliveries to HTTP receivers (storage/receivers.py).

    API clients page through alerts by id, so ids must become visible in id order:
    an id handed out before another must never commit after it. SQLite has one
    writer at a time; on PostgreSQL a transaction-scoped lock taken just before the
    id is drawn is held until commit, so the next alert's id is drawn only after
    this one is committed. Everything else is flushed first: the lock covers only
    these inserts and the commit."""
    datasets = sorted({change.dataset for change in changes if change.alert})
    if not datasets:
        return  # only changes kept for history and the digest
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:key, hashtext(current_schema()))"),
            {"key": ALERT_ORDER_LOCK},
        )
    alert = AlertRow(subject_id=subject_id, batch_id=batch_id, detected_at=now)
    session.add(alert)
    session.flush()
    enqueue_receivers(session, routes, alert.id, subject_id, datasets, posted, now)
