"""The values repositories return (frozen dataclasses, no ORM objects), and the mappers
between rows and model values that more than one repository needs."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.alerts.model import ChangeVerdict
from bot.core.observations import (
    Change,
    ChangeKind,
    FactKey,
    FactState,
    FactStatus,
    IndicatorKind,
    Observation,
    SourceField,
    SourceStates,
)
from bot.storage.models import ChangeRow, FactRow, Monitor, Subject
from bot.triage.model import SuppressionView
from bot.watches.model import Finding, Sighting


@dataclass(frozen=True)
class SubjectView:
    id: int
    indicator: str
    kind: IndicatorKind
    last_checked_at: datetime | None


@dataclass(frozen=True)
class MonitorView:
    id: int
    indicator: str
    kind: IndicatorKind
    team_id: str
    channel_id: str
    created_by: str
    created_at: datetime
    last_checked_at: datetime | None
    muted: tuple[str, ...]  # datasets muted until unmuted (mute suppressions ending at UNTIMED)
    stale_datasets: tuple[str, ...] = ()
    subject_id: int = 0
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class AddedMonitor:
    indicator: str
    kind: IndicatorKind
    subject_id: int
    new_for_channel: bool
    new_subject: bool


@dataclass(frozen=True)
class DatasetSnapshot:
    """The stored state of one dataset of one subject, as the diff needs it."""

    facts: dict[FactKey, FactState] | None  # None: no baseline yet
    last_ok_at: datetime | None
    # Per source: baselines and pending sources as stored; None: stored before they were kept.
    sources: SourceStates | None = None

    @property
    def baselined(self) -> frozenset[SourceField] | None:
        """The (source, field) pairs with a baseline; None: not kept for this row yet."""
        return self.sources.baselined if self.sources is not None else None


@dataclass(frozen=True)
class CheckOutcome:
    """What one check wrote: its changes and the observation results, for the caller."""

    observation: Observation
    changes: list[Change]
    closed: list[FactState]
    state: dict[FactKey, FactState]
    baseline: bool
    # Baselines per source after this check (None: the dataset's row is left as it was).
    sources: SourceStates | None = None
    # What became of each change in each channel (set once the check is written).
    verdicts: tuple[ChangeVerdict, ...] = ()


@dataclass(frozen=True)
class DatasetHealth:
    dataset: str
    baseline_at: datetime | None
    last_ok_at: datetime | None
    stale: bool
    last_error: str | None
    facts: tuple[FactState, ...] = ()
    sources: SourceStates | None = None


@dataclass(frozen=True)
class SharedInfrastructure:
    """A monitored subject that shares a fact value with an indicator under investigation.

    `field` is the monitored subject's field holding `value`; empty when the monitored
    indicator itself is one of the values looked up. `channel_ids` names only the
    viewer's own channel; `other_channels` counts the other channels of the workspace that
    the viewer may learn of (bot/core/walls.py), never named."""

    indicator: str
    kind: IndicatorKind
    field: str
    value: str
    channel_ids: tuple[str, ...]
    other_channels: int = 0


@dataclass(frozen=True)
class PendingAlert:
    """An outbox row with everything the renderer needs."""

    id: int
    team_id: str
    channel_id: str
    indicator: str
    kind: IndicatorKind
    created_at: datetime
    attempts: int
    changes: list[Change] = field(default_factory=list)
    # Handed to a transport before without a recorded outcome (a failed attempt, or a
    # lease that ran out mid-send): it may already be in the channel.
    uncertain: bool = False
    # A follow-up of an open alert of the same monitor: posted in its thread (`parent_ts`;
    # None when the parent never reached Slack, so it goes top-level after all).
    follow_up: bool = False
    parent_ts: str | None = None


class OutboxKind(enum.StrEnum):
    """What an outbox row tells its channel."""

    ALERT = "alert"  # changes of a monitor (top level, or a follow-up in an open alert's thread)
    LOOKALIKE = "lookalike"  # a lookalike finding's alert
    SIGHTING = "sighting"  # a later certificate of a finding, in its alert's thread
    NOTICE = "notice"  # a suppression ended by itself: alerts are back on


@dataclass(frozen=True)
class PendingLookalike:
    """A lookalike message to post: a finding's alert, or a later certificate in its thread."""

    id: int
    team_id: str
    channel_id: str
    finding: Finding
    sighting: Sighting | None  # None: the finding's alert
    parent_ts: str | None  # the finding's alert, once posted (for a sighting's thread)
    created_at: datetime
    attempts: int
    uncertain: bool = False


@dataclass(frozen=True)
class PendingNotice:
    """The notice that a suppression of this channel ended by itself."""

    id: int
    team_id: str
    channel_id: str
    suppression: SuppressionView
    created_at: datetime
    attempts: int
    uncertain: bool = False


PendingMessage = PendingAlert | PendingLookalike | PendingNotice


# pg_advisory_xact_lock key (with the schema's hash) that numbers alerts in commit order.
ALERT_ORDER_LOCK = 727275


def aware(moment: datetime | None) -> datetime | None:
    """A timestamptz from a plain-SQL row, in UTC like UtcDateTime gives it."""
    return None if moment is None else moment.astimezone(UTC)


def subject_view(subject: Subject) -> SubjectView:
    return SubjectView(subject.id, subject.indicator, IndicatorKind(subject.kind), subject.last_checked_at)


def monitor_view(
    monitor: Monitor, subject: Subject, stale: Iterable[str], muted: Iterable[str] = ()
) -> MonitorView:
    return MonitorView(
        id=monitor.id,
        indicator=subject.indicator,
        kind=IndicatorKind(subject.kind),
        team_id=monitor.team_id,
        channel_id=monitor.channel_id,
        created_by=monitor.created_by,
        created_at=monitor.created_at,
        last_checked_at=subject.last_checked_at,
        muted=tuple(sorted(muted)),
        stale_datasets=tuple(stale),
        subject_id=subject.id,
        tags=tuple(monitor.tags or ()),
    )


def fact_state(row: FactRow) -> FactState:
    return FactState(row.field, row.value, row.source, row.first_seen, FactStatus(row.status), row.last_seen)


def fact_row(subject_id: int, dataset: str, fact: FactState) -> FactRow:
    return FactRow(
        subject_id=subject_id,
        dataset=dataset,
        field=fact.field,
        value=fact.value,
        source=fact.source,
        status=fact.status.value,
        first_seen=fact.first_seen,
        last_seen=fact.last_seen,
    )


def change_row(subject_id: int, batch_id: str, change: Change, now: datetime) -> ChangeRow:
    return ChangeRow(
        subject_id=subject_id,
        batch_id=batch_id,
        dataset=change.dataset,
        kind=change.kind.value,
        field=change.field,
        old_value=change.old_value,
        new_value=change.new_value,
        source=change.source,
        first_seen=change.first_seen,
        last_seen=change.last_seen,
        detected_at=now,
        alerted=change.alert,
    )


def change_from_row(row: ChangeRow) -> Change:
    return Change(
        dataset=row.dataset,
        kind=ChangeKind(row.kind),
        field=row.field,
        old_value=row.old_value,
        new_value=row.new_value,
        source=row.source,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        alert=row.alerted,
    )


@dataclass(frozen=True)
class CheckToRecord:
    """One finished check, as values: what was observed, when, and when to come back."""

    subject_id: int
    observations: Sequence[Observation]
    now: datetime
    retry_without_baseline_at: datetime | None = None
    # A source queued this check for a slot expected then: check again by that time.
    next_check_by: datetime | None = None


def dataset_snapshot(state: Any, facts: dict[FactKey, FactState]) -> DatasetSnapshot | None:
    """The diff's view of a stored `dataset_states` row (ORM object or Core row; None:
    never checked) and its open facts."""
    if state is None:
        return None
    return DatasetSnapshot(
        facts if state.baseline_at is not None else None,
        state.last_ok_at,
        SourceStates.from_json(state.sources),
    )
