"""Triage: each delivery's state (an alert's copy in one channel: open, acknowledged,
expected, false positive) with who, when and why; the suppressions that silence a monitor
(values marked false positive, snoozes, mutes for a while or until unmuted); what the
policy silenced per channel; and which alert messages are follow-ups in the thread of an
earlier, still open one.

The write side that runs inside a check's transaction (`active_suppressions`,
`record_silenced`, `thread_follow_ups`) takes the check's session; everything else is a
repository method, one transaction each (`await db.run(db.triage.set_state, …)`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.model import ActiveSuppression, Routed
from bot.core.errors import UserInputError
from bot.core.observations import ADDRESS_AND_NAME_FIELDS, Change, FactStatus, IndicatorKind
from bot.core.walls import ShareScope, Viewer
from bot.storage.models import (
    AlertRow,
    AlertThreadRow,
    ChangeRow,
    DeliveryTriageRow,
    FactRow,
    LookalikeWatchRow,
    Monitor,
    OutboxRow,
    SilencedChangeRow,
    Subject,
    SuppressionRow,
)
from bot.storage.views import OutboxKind, change_from_row
from bot.storage.walls import shown_fact, visible_monitors
from bot.triage.model import SuppressionKind, SuppressionView, Triage, TriageState, shown_end

DEFAULT_FOLLOW_UP_WINDOW = timedelta(hours=24)
DEFAULT_SHARED_HOST_NAMES = 50
# At most this many values become suppressions from one false positive click.
MAX_VALUES_PER_FALSE_POSITIVE = 50

SilencedKey = tuple[str, str, str]  # dataset, field, value


@dataclass(frozen=True)
class FollowUps:
    """The follow-ups posted in an alert's thread so far."""

    count: int = 0
    changes: int = 0


@dataclass(frozen=True)
class AlertContext:
    """The indicator's story around one alert, as of when it was detected (so the message
    reads the same on every edit): earlier alerts, what alerted in the day before, and
    which other monitored indicators of the team hold one of its new values."""

    previous_alerts: int = 0
    last_alert_before: datetime | None = None
    datasets_day_before: tuple[str, ...] = ()
    shared: tuple[tuple[str, str], ...] = ()  # (other indicator, the value it shares)
    # An IP known to host this many names or more (passive DNS) is a shared host: its new
    # names make one summarised alert. None: not a shared host.
    names_on_host: int | None = None


@dataclass(frozen=True)
class AlertMessageState:
    """Everything an alert message in one channel shows, read back from storage so the
    message can be edited in place (triage, follow-up count) after it was posted."""

    outbox_id: int
    alert_id: int
    monitor_id: int | None
    monitor_owner: str | None
    team_id: str
    channel_id: str
    message_ts: str | None
    indicator: str
    kind: IndicatorKind
    detected_at: datetime
    changes: tuple[Change, ...]
    triage: Triage
    follow_ups: FollowUps = field(default_factory=FollowUps)
    follow_up: bool = False  # this row was posted in another alert's thread
    thread_changes: tuple[Change, ...] = ()  # of the follow-ups in its thread
    suppressed_until: datetime | None = None  # of the values this alert marked false positive
    snoozed_until: datetime | None = None  # the monitor's snooze in force
    snoozed_by: str | None = None
    context: AlertContext = field(default_factory=AlertContext)


def triage_of(row: DeliveryTriageRow | None) -> Triage:
    if row is None:
        return Triage()
    return Triage(TriageState(row.state), row.set_by, row.set_at, row.reason)


# --- inside the check's transaction -------------------------------------------------


def active_suppressions(
    session: Session, monitor_ids: Sequence[int], now: datetime
) -> dict[int, tuple[ActiveSuppression, ...]]:
    """The suppressions in force now, per monitor."""
    found: dict[int, list[ActiveSuppression]] = defaultdict(list)
    if not monitor_ids:
        return {}
    for row in session.scalars(
        select(SuppressionRow)
        .where(
            SuppressionRow.monitor_id.in_(monitor_ids),
            SuppressionRow.lifted_at.is_(None),
            SuppressionRow.expires_at > now,
        )
        .order_by(SuppressionRow.id)
    ):
        if row.monitor_id is not None:  # always, by the filter: a watch's row names no monitor
            found[row.monitor_id].append(
                ActiveSuppression(row.id, row.kind, row.dataset, row.value, row.expires_at)
            )
    return {key: tuple(value) for key, value in found.items()}


def record_silenced(
    session: Session, subject_id: int, batch_id: str, decisions: Iterable[Routed], now: datetime
) -> int:
    """Keep what each channel's stages silenced; returns how many changes."""
    rows = [
        SilencedChangeRow(
            subject_id=subject_id,
            batch_id=batch_id,
            team_id=decision.target.team_id,
            channel_id=decision.target.channel_id,
            dataset=silenced.change.dataset,
            field=silenced.change.field,
            value=silenced.change.value,
            stage=silenced.stage,
            detected_at=now,
        )
        for decision in decisions
        for silenced in decision.silenced_changes
    ]
    session.add_all(rows)
    return len(rows)


def thread_follow_ups(
    session: Session, subject_id: int, posted: Sequence[OutboxRow], now: datetime, window: timedelta
) -> dict[int, int]:
    """Each new outbox row whose channel has an open alert of the same subject younger
    than `window` becomes a follow-up in that alert's thread: {new row id: parent id}."""
    threaded_to: dict[int, int] = {}
    if not posted or window <= timedelta(0):
        return threaded_to
    session.flush()  # the new rows' ids
    new_ids = [row.id for row in posted]
    for row in posted:
        threaded = select(AlertThreadRow.outbox_id)
        parent = session.execute(
            select(OutboxRow.id, DeliveryTriageRow.state)
            .join(AlertRow, AlertRow.batch_id == OutboxRow.batch_id)
            .outerjoin(DeliveryTriageRow, DeliveryTriageRow.outbox_id == OutboxRow.id)
            .where(
                OutboxRow.subject_id == subject_id,
                OutboxRow.team_id == row.team_id,
                OutboxRow.channel_id == row.channel_id,
                OutboxRow.id.not_in(new_ids),
                OutboxRow.id.not_in(threaded),
                OutboxRow.abandoned_at.is_(None),
                OutboxRow.created_at >= now - window,
            )
            .order_by(OutboxRow.id.desc())
            .limit(1)
        ).first()
        if parent is None:
            continue
        parent_id, state = parent
        if state is not None and TriageState(state).closed:
            continue  # a closed alert: the next change is a new alert
        session.add(AlertThreadRow(outbox_id=row.id, subject_id=subject_id, parent_id=parent_id))
        threaded_to[row.id] = parent_id
    return threaded_to


def silenced_keys(session: Session, batch_ids: Iterable[str]) -> dict[tuple[str, str], set[SilencedKey]]:
    """Per (batch, channel): the changes silenced there."""
    keys: dict[tuple[str, str], set[SilencedKey]] = defaultdict(set)
    batches = set(batch_ids)
    if not batches:
        return keys
    for row in session.scalars(select(SilencedChangeRow).where(SilencedChangeRow.batch_id.in_(batches))):
        keys[(row.batch_id, row.channel_id)].add((row.dataset, row.field, row.value))
    return keys


def is_silenced(change: Change, keys: set[SilencedKey]) -> bool:
    return (change.dataset, change.field, change.value) in keys


# --- the repository ----------------------------------------------------------------


class TriageStore:
    def __init__(
        self,
        engine: Engine,
        *,
        shared_host_names: int = DEFAULT_SHARED_HOST_NAMES,
        share_scope: ShareScope = ShareScope.CHANNEL,
    ) -> None:
        self.engine = engine
        self.shared_host_names = shared_host_names
        self.share_scope = share_scope
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    # alerts and their messages

    def states(self, outbox_ids: Sequence[int]) -> dict[int, Triage]:
        """Each delivery's triage (no row: open)."""
        if not outbox_ids:
            return {}
        with self._sessions() as session:
            rows = session.scalars(
                select(DeliveryTriageRow).where(DeliveryTriageRow.outbox_id.in_(outbox_ids))
            )
            found = {row.outbox_id: triage_of(row) for row in rows}
        return {outbox_id: found.get(outbox_id, Triage()) for outbox_id in outbox_ids}

    def set_state(
        self, outbox_id: int, state: TriageState, *, by: str, now: datetime, reason: str | None = None
    ) -> Triage:
        """Set one delivery's triage (an alert's copy in one channel). Leaving
        `false_positive` lifts the suppressions that delivery made, and only those.
        UserInputError if there is no such delivery."""
        with self._sessions.begin() as session:
            delivery = session.get(OutboxRow, outbox_id)
            if delivery is None:
                raise UserInputError(f"There is no delivery {outbox_id}.")
            row = session.get(DeliveryTriageRow, outbox_id)
            if row is None:
                row = DeliveryTriageRow(outbox_id=outbox_id, subject_id=delivery.subject_id)
                session.add(row)
            elif row.state == TriageState.FALSE_POSITIVE.value and state is not TriageState.FALSE_POSITIVE:
                for suppression in session.scalars(
                    select(SuppressionRow).where(
                        SuppressionRow.delivery_id == outbox_id, SuppressionRow.lifted_at.is_(None)
                    )
                ):
                    suppression.lifted_at, suppression.lifted_by = now, by
            row.state, row.set_by, row.set_at, row.reason = state.value, by, now, reason
            return triage_of(row)

    def refine_false_positive(
        self, outbox_id: int, *, by: str, now: datetime, until: datetime, reason: str
    ) -> Triage:
        """A new reason and end for a delivery marked false positive, and for its suppressions."""
        with self._sessions.begin() as session:
            row = session.get(DeliveryTriageRow, outbox_id)
            if row is None or row.state != TriageState.FALSE_POSITIVE.value:
                raise UserInputError(
                    "This alert is not marked false positive (any more): nothing was changed."
                )
            for suppression in session.scalars(
                select(SuppressionRow).where(
                    SuppressionRow.delivery_id == outbox_id,
                    SuppressionRow.lifted_at.is_(None),
                    SuppressionRow.expires_at > now,
                )
            ):
                suppression.expires_at, suppression.reason = until, reason
            row.reason, row.set_by, row.set_at = reason, by, now
            return triage_of(row)

    def message_at(self, channel_id: str, ts: str, *, now: datetime) -> AlertMessageState | None:
        """The alert message posted as `ts` in `channel_id` (a follow-up resolves to itself)."""
        with self._sessions() as session:
            row = session.scalar(
                select(OutboxRow).where(
                    OutboxRow.channel_id == channel_id,
                    OutboxRow.message_ts == ts,
                    OutboxRow.kind == OutboxKind.ALERT.value,
                )
            )
            return (
                None
                if row is None
                else message_state(session, row, now, self.shared_host_names, self.share_scope)
            )

    def message(self, outbox_id: int, *, now: datetime) -> AlertMessageState | None:
        with self._sessions() as session:
            row = session.get(OutboxRow, outbox_id)
            if row is None or row.kind != OutboxKind.ALERT.value:
                return None
            return message_state(session, row, now, self.shared_host_names, self.share_scope)

    def messages_of_alert(
        self, alert_id: int, *, now: datetime, delivered_only: bool = True
    ) -> list[AlertMessageState]:
        """Every delivered message of an alert (one per channel it went to); with
        `delivered_only` False, its deliveries still queued or given up too."""
        with self._sessions() as session:
            alert = session.get(AlertRow, alert_id)
            if alert is None:
                return []
            query = select(OutboxRow).where(OutboxRow.batch_id == alert.batch_id)
            if delivered_only:
                query = query.where(OutboxRow.message_ts.is_not(None))
            return [
                message_state(session, row, now, self.shared_host_names, self.share_scope)
                for row in session.scalars(query.order_by(OutboxRow.id))
            ]

    def parent_of(self, outbox_id: int, *, now: datetime) -> AlertMessageState | None:
        """The alert whose thread this outbox row is a follow-up in."""
        with self._sessions() as session:
            thread = session.get(AlertThreadRow, outbox_id)
            if thread is None:
                return None
            parent = session.get(OutboxRow, thread.parent_id)
            return (
                None
                if parent is None
                else message_state(session, parent, now, self.shared_host_names, self.share_scope)
            )

    def open_alerts(
        self, team_id: str, channel_ids: Sequence[str], *, now: datetime, limit: int = 20
    ) -> list[AlertMessageState]:
        """The open and acknowledged top-level alerts of these channels, newest first."""
        if not channel_ids:
            return []
        with self._sessions() as session:
            rows = session.scalars(
                select(OutboxRow)
                .join(AlertRow, AlertRow.batch_id == OutboxRow.batch_id)
                .outerjoin(DeliveryTriageRow, DeliveryTriageRow.outbox_id == OutboxRow.id)
                .where(
                    OutboxRow.team_id == team_id,
                    OutboxRow.channel_id.in_(channel_ids),
                    OutboxRow.message_ts.is_not(None),
                    OutboxRow.id.not_in(select(AlertThreadRow.outbox_id)),
                    or_(
                        DeliveryTriageRow.state.is_(None),
                        DeliveryTriageRow.state.in_([TriageState.OPEN.value, TriageState.ACKNOWLEDGED.value]),
                    ),
                )
                .order_by(OutboxRow.id.desc())
                .limit(limit)
            )
            return [
                message_state(session, row, now, self.shared_host_names, self.share_scope) for row in rows
            ]

    def open_count(self, team_id: str, channel_id: str, *, since: datetime, until: datetime) -> int:
        """Alerts of a channel detected in [since, until) that nobody closed yet."""
        with self._sessions() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(OutboxRow)
                    .join(AlertRow, AlertRow.batch_id == OutboxRow.batch_id)
                    .outerjoin(DeliveryTriageRow, DeliveryTriageRow.outbox_id == OutboxRow.id)
                    .where(
                        OutboxRow.team_id == team_id,
                        OutboxRow.channel_id == channel_id,
                        OutboxRow.created_at >= since,
                        OutboxRow.created_at < until,
                        OutboxRow.id.not_in(select(AlertThreadRow.outbox_id)),
                        or_(
                            DeliveryTriageRow.state.is_(None),
                            DeliveryTriageRow.state == TriageState.OPEN.value,
                        ),
                    )
                )
                or 0
            )

    def silenced_count(self, team_id: str, channel_id: str, *, since: datetime, until: datetime) -> int:
        with self._sessions() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(SilencedChangeRow)
                    .where(
                        SilencedChangeRow.team_id == team_id,
                        SilencedChangeRow.channel_id == channel_id,
                        SilencedChangeRow.detected_at >= since,
                        SilencedChangeRow.detected_at < until,
                    )
                )
                or 0
            )

    def batch_states(self, team_id: str, channel_id: str, batch_ids: Sequence[str]) -> dict[str, TriageState]:
        """Per check (batch) that raised an alert in this channel: its delivery's triage state."""
        if not batch_ids:
            return {}
        with self._sessions() as session:
            rows = session.execute(
                select(OutboxRow.batch_id, DeliveryTriageRow.state)
                .outerjoin(DeliveryTriageRow, DeliveryTriageRow.outbox_id == OutboxRow.id)
                .where(
                    OutboxRow.batch_id.in_(set(batch_ids)),
                    OutboxRow.team_id == team_id,
                    OutboxRow.channel_id == channel_id,
                )
            ).all()
            return {batch: TriageState(state or TriageState.OPEN.value) for batch, state in rows}

    def silenced_in(
        self, team_id: str, channel_id: str, batch_ids: Sequence[str]
    ) -> dict[str, set[SilencedKey]]:
        """Per batch: the changes silenced in this channel (for history)."""
        with self._sessions() as session:
            keys = silenced_keys(session, batch_ids)
        return {batch: found for (batch, channel), found in keys.items() if channel == channel_id}

    # suppressions

    def suppress(
        self,
        *,
        monitor_id: int,
        kind: SuppressionKind,
        by: str,
        now: datetime,
        until: datetime,
        dataset: str | None = None,
        values: Sequence[str | None] = (None,),
        reason: str | None = None,
        alert_id: int | None = None,
        delivery_id: int | None = None,
    ) -> list[int]:
        """Add suppressions of a monitor. A snooze, or a mute of a dataset, replaces the one
        in force (the new end wins); values already suppressed get the new end."""
        with self._sessions.begin() as session:
            monitor = session.get(Monitor, monitor_id)
            if monitor is None:
                raise UserInputError("That monitor is gone: nothing was changed.")
            ids = []
            for value in list(dict.fromkeys(values))[:MAX_VALUES_PER_FALSE_POSITIVE]:
                current = session.scalars(
                    select(SuppressionRow).where(
                        SuppressionRow.monitor_id == monitor_id,
                        SuppressionRow.kind == kind.value,
                        SuppressionRow.dataset.is_(None)
                        if dataset is None
                        else SuppressionRow.dataset == dataset,
                        SuppressionRow.value.is_(None) if value is None else SuppressionRow.value == value,
                        SuppressionRow.lifted_at.is_(None),
                        SuppressionRow.expires_at > now,
                    )
                )
                for old in current:
                    old.lifted_at, old.lifted_by = now, by
                row = SuppressionRow(
                    monitor_id=monitor_id,
                    subject_id=monitor.subject_id,
                    kind=kind.value,
                    dataset=dataset,
                    value=value,
                    reason=reason,
                    created_by=by,
                    created_at=now,
                    expires_at=until,
                    alert_id=alert_id,
                    delivery_id=delivery_id,
                )
                session.add(row)
                session.flush()
                ids.append(row.id)
            return ids

    def false_positive(
        self,
        alert_id: int,
        delivery_id: int,
        monitor_id: int,
        changes: Sequence[Change],
        *,
        by: str,
        now: datetime,
        until: datetime,
        reason: str,
    ) -> list[int]:
        """Suppress every value of the alert's changes in its dataset on this monitor (the
        channel the delivery is in)."""
        ids: list[int] = []
        by_dataset: dict[str, list[str]] = defaultdict(list)
        for change in changes:
            for value in (change.old_value, change.new_value):
                if value is not None:
                    by_dataset[change.dataset].append(value)
        for dataset, values in sorted(by_dataset.items()):
            ids += self.suppress(
                monitor_id=monitor_id,
                kind=SuppressionKind.VALUE,
                by=by,
                now=now,
                until=until,
                dataset=dataset,
                values=values,
                reason=reason,
                alert_id=alert_id,
                delivery_id=delivery_id,
            )
        return ids

    def active(
        self,
        *,
        now: datetime,
        team_id: str | None = None,
        channel_id: str | None = None,
        monitor_id: int | None = None,
    ) -> list[SuppressionView]:
        """Every suppression in force, soonest end first (mutes until unmuted last)."""
        query = (
            select(SuppressionRow, Monitor, Subject)
            .join(Monitor, SuppressionRow.monitor_id == Monitor.id)
            .join(Subject, Monitor.subject_id == Subject.id)
            .where(SuppressionRow.lifted_at.is_(None), SuppressionRow.expires_at > now)
        )
        if team_id is not None:
            query = query.where(Monitor.team_id == team_id)
        if channel_id is not None:
            query = query.where(Monitor.channel_id == channel_id)
        if monitor_id is not None:
            query = query.where(Monitor.id == monitor_id)
        with self._sessions() as session:
            return [
                _suppression_view(row, monitor, subject)
                for row, monitor, subject in session.execute(
                    query.order_by(SuppressionRow.expires_at, SuppressionRow.id)
                )
            ]

    def get(self, suppression_id: int) -> SuppressionView | None:
        with self._sessions() as session:
            row = session.execute(
                select(SuppressionRow, Monitor, Subject)
                .join(Monitor, SuppressionRow.monitor_id == Monitor.id)
                .join(Subject, Monitor.subject_id == Subject.id)
                .where(SuppressionRow.id == suppression_id)
            ).first()
            return None if row is None else _suppression_view(*row)

    def lift(self, suppression_id: int, *, by: str, now: datetime) -> SuppressionView:
        """End a suppression now. UserInputError if it is not in force."""
        with self._sessions.begin() as session:
            found = session.execute(
                select(SuppressionRow, Monitor, Subject)
                .join(Monitor, SuppressionRow.monitor_id == Monitor.id)
                .join(Subject, Monitor.subject_id == Subject.id)
                .where(SuppressionRow.id == suppression_id)
            ).first()
            if found is None or found[0].lifted_at is not None or found[0].expires_at <= now:
                raise UserInputError(f"Suppression {suppression_id} is not in force: nothing was changed.")
            row = found[0]
            row.lifted_at, row.lifted_by = now, by
            return _suppression_view(*found)

    def queue_ended_notices(self, *, now: datetime, limit: int = 100) -> int:
        """Queue, in the outbox, the notice of each suppression that ended by itself (a
        monitor's or a watch's) and whose channel was not told yet, at most once even with
        several processes: sent in order with the channel's alerts, retried like them. How
        many were queued."""
        with self._sessions.begin() as session:
            query = (
                select(
                    SuppressionRow,
                    func.coalesce(Monitor.team_id, LookalikeWatchRow.team_id),
                    func.coalesce(Monitor.channel_id, LookalikeWatchRow.channel_id),
                )
                .outerjoin(Monitor, SuppressionRow.monitor_id == Monitor.id)
                .outerjoin(LookalikeWatchRow, SuppressionRow.watch_id == LookalikeWatchRow.id)
                .where(
                    SuppressionRow.lifted_at.is_(None),
                    SuppressionRow.end_noticed_at.is_(None),
                    SuppressionRow.expires_at <= now,
                )
                .order_by(SuppressionRow.id)
                .limit(limit)
            )
            if self.engine.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True, of=SuppressionRow)
            ended = session.execute(query).all()
            for row, team_id, channel_id in ended:
                row.end_noticed_at = now
                if team_id is not None and channel_id is not None:
                    session.add(notice_row(team_id, channel_id, row.id, now))
            return len(ended)

    def snoozed_until(self, monitor_id: int, *, now: datetime) -> datetime | None:
        with self._sessions() as session:
            return session.scalar(
                select(func.max(SuppressionRow.expires_at)).where(
                    and_(
                        SuppressionRow.monitor_id == monitor_id,
                        SuppressionRow.kind == SuppressionKind.SNOOZE.value,
                        SuppressionRow.lifted_at.is_(None),
                        SuppressionRow.expires_at > now,
                    )
                )
            )


def message_state(
    session: Session, row: OutboxRow, now: datetime, shared_host_names: int, share_scope: ShareScope
) -> AlertMessageState:
    """An alert message in one channel as it should read now, read back from storage."""
    subject = session.get(Subject, row.subject_id)
    assert subject is not None
    alert = session.scalar(select(AlertRow).where(AlertRow.batch_id == row.batch_id))
    triage = triage_of(session.get(DeliveryTriageRow, row.id))
    monitor = session.scalar(
        select(Monitor).where(
            Monitor.subject_id == row.subject_id,
            Monitor.team_id == row.team_id,
            Monitor.channel_id == row.channel_id,
        )
    )
    changes = _shown_changes(session, row)
    children = list(
        session.scalars(
            select(OutboxRow)
            .join(AlertThreadRow, AlertThreadRow.outbox_id == OutboxRow.id)
            .where(AlertThreadRow.parent_id == row.id, OutboxRow.delivered_at.is_not(None))
        )
    )
    thread_changes = [change for child in children for change in _shown_changes(session, child)]
    suppressed_until = None
    if triage.state is TriageState.FALSE_POSITIVE:
        suppressed_until = session.scalar(
            select(func.max(SuppressionRow.expires_at)).where(
                SuppressionRow.delivery_id == row.id,
                SuppressionRow.lifted_at.is_(None),
                SuppressionRow.expires_at > now,
            )
        )
    snooze = _snooze_in_force(session, monitor, now)
    viewer = Viewer(row.team_id, row.channel_id, share_scope)
    return AlertMessageState(
        outbox_id=row.id,
        alert_id=alert.id if alert is not None else 0,
        monitor_id=monitor.id if monitor is not None else None,
        monitor_owner=monitor.created_by if monitor is not None else None,
        team_id=row.team_id,
        channel_id=row.channel_id,
        message_ts=row.message_ts,
        indicator=subject.indicator,
        kind=IndicatorKind(subject.kind),
        detected_at=row.created_at,
        changes=changes,
        triage=triage,
        follow_ups=FollowUps(len(children), len(thread_changes)),
        thread_changes=tuple(thread_changes),
        follow_up=session.get(AlertThreadRow, row.id) is not None,
        suppressed_until=suppressed_until,
        snoozed_until=snooze[0] if snooze else None,
        snoozed_by=snooze[1] if snooze else None,
        context=_context(session, row, alert, subject, changes, shared_host_names, viewer),
    )


def _shown_changes(session: Session, row: OutboxRow) -> tuple[Change, ...]:
    """The alerted changes of a delivery's check, in its datasets, less what a stage
    silenced in its channel."""
    batch = row.batch_id or ""
    silenced = silenced_keys(session, [batch]).get((batch, row.channel_id), set())
    wanted = set(row.datasets)
    return tuple(
        change
        for change in (
            change_from_row(c)
            for c in session.scalars(
                select(ChangeRow)
                .where(ChangeRow.batch_id == row.batch_id, ChangeRow.alerted.is_(True))
                .order_by(ChangeRow.id)
            )
        )
        if change.dataset in wanted and not is_silenced(change, silenced)
    )


def _snooze_in_force(session: Session, monitor: Monitor | None, now: datetime) -> tuple[datetime, str] | None:
    """The latest-ending snooze in force on the monitor, and who made it."""
    if monitor is None:
        return None
    found = session.execute(
        select(SuppressionRow.expires_at, SuppressionRow.created_by)
        .where(
            SuppressionRow.monitor_id == monitor.id,
            SuppressionRow.kind == SuppressionKind.SNOOZE.value,
            SuppressionRow.lifted_at.is_(None),
            SuppressionRow.expires_at > now,
        )
        .order_by(SuppressionRow.expires_at.desc())
        .limit(1)
    ).first()
    return None if found is None else (found[0], found[1])


MAX_SHARED_SHOWN = 5


def _context(
    session: Session,
    row: OutboxRow,
    alert: AlertRow | None,
    subject: Subject,
    changes: Sequence[Change],
    shared_host_names: int,
    viewer: Viewer,
) -> AlertContext:
    if alert is None:
        return AlertContext()
    # Earlier alerts of this monitor in this channel (what silenced checks raised is not one).
    earlier = (
        OutboxRow.subject_id == subject.id,
        OutboxRow.team_id == row.team_id,
        OutboxRow.channel_id == row.channel_id,
        OutboxRow.id < row.id,
    )
    count, last = session.execute(select(func.count(), func.max(OutboxRow.created_at)).where(*earlier)).one()
    datasets = sorted(
        {
            dataset
            for listed in session.scalars(
                select(OutboxRow.datasets).where(
                    *earlier, OutboxRow.created_at >= row.created_at - timedelta(days=1)
                )
            )
            for dataset in listed or ()
        }
    )
    new_values = sorted({c.new_value for c in changes if c.new_value and c.field in ADDRESS_AND_NAME_FIELDS})[
        :200
    ]
    shared: list[tuple[str, str]] = []
    if new_values:
        # Only what the alert's channel may learn of (its own monitors by default).
        monitored = select(Monitor.subject_id).where(*visible_monitors(viewer))
        shared = [
            (name, name)
            for name in session.scalars(
                select(Subject.indicator)
                .where(Subject.id.in_(monitored), Subject.indicator.in_(new_values))
                .order_by(Subject.indicator)
                .limit(MAX_SHARED_SHOWN)
            )
        ]
        shared += [
            (name, value)
            for name, value in session.execute(
                select(Subject.indicator, FactRow.value)
                .join(FactRow, FactRow.subject_id == Subject.id)
                .where(
                    Subject.id.in_(monitored),
                    Subject.id != subject.id,
                    FactRow.status != FactStatus.CLOSED.value,
                    shown_fact(),
                    FactRow.value.in_(new_values),
                )
                .distinct()
                .order_by(Subject.indicator, FactRow.value)
                .limit(MAX_SHARED_SHOWN)
            )
        ]
    names = None
    if subject.kind == IndicatorKind.IP.value:
        known = session.scalar(
            select(func.count()).where(
                FactRow.subject_id == subject.id,
                FactRow.field == "domain",
                FactRow.status != FactStatus.CLOSED.value,
                shown_fact(),
            )
        )
        names = int(known or 0) if int(known or 0) >= shared_host_names else None
    return AlertContext(int(count), last, tuple(datasets), tuple(shared), names)


def notice_row(team_id: str, channel_id: str, suppression_id: int, now: datetime) -> OutboxRow:
    """The outbox row that tells a channel one of its suppressions ended by itself."""
    return OutboxRow(
        kind=OutboxKind.NOTICE.value,
        team_id=team_id,
        channel_id=channel_id,
        suppression_id=suppression_id,
        datasets=[],
        created_at=now,
        next_attempt_at=now,
        attempts=0,
    )


def suppression_view(session: Session, suppression_id: int) -> SuppressionView | None:
    """One suppression of a monitor with its channel and indicator; None if it is gone (or
    a watch's: bot/watches/store/suppressions.py)."""
    found = session.execute(
        select(SuppressionRow, Monitor, Subject)
        .join(Monitor, SuppressionRow.monitor_id == Monitor.id)
        .join(Subject, Monitor.subject_id == Subject.id)
        .where(SuppressionRow.id == suppression_id)
    ).first()
    return None if found is None else _suppression_view(*found)


def _suppression_view(row: SuppressionRow, monitor: Monitor, subject: Subject) -> SuppressionView:
    return SuppressionView(
        id=row.id,
        kind=SuppressionKind(row.kind),
        indicator=subject.indicator,
        team_id=monitor.team_id,
        channel_id=monitor.channel_id,
        monitor_owner=monitor.created_by,
        dataset=row.dataset,
        value=row.value,
        reason=row.reason,
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=shown_end(row.expires_at),
        alert_id=row.alert_id,
        delivery_id=row.delivery_id,
    )
