"""Where a check's changes may be alerted: the monitors (channels) of the checked subject,
as the alert policy sees them, and what the policy decided for each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.model.observations import Change


@dataclass(frozen=True)
class ActiveSuppression:
    """A suppression of one monitor in force when the check ran (bot/storage/triage.py):
    `value` drops the changes of one value of one dataset, both directions; `snooze` the
    whole monitor; `mute` one dataset. Each ends at `expires_at`."""

    id: int
    kind: str  # value, snooze, mute
    dataset: str | None
    value: str | None
    expires_at: datetime


@dataclass(frozen=True)
class AlertTarget:
    """One monitor of the checked subject: a channel its changes may be alerted in."""

    monitor_id: int
    team_id: str
    channel_id: str
    muted: tuple[str, ...] = ()  # datasets this channel muted
    suppressions: tuple[ActiveSuppression, ...] = ()


@dataclass(frozen=True)
class Silenced:
    """A dataset's changes kept out of one channel's alert, and the stage that did it."""

    dataset: str
    stage: str


@dataclass(frozen=True)
class SilencedChange:
    """One change a stage kept out of one channel's alert (stored, so history shows it as
    suppressed and the digest counts it)."""

    change: Change
    stage: str


@dataclass(frozen=True)
class Routed:
    """The policy's decision for one channel: the datasets to alert there (none: no alert),
    and what was silenced on the way, so nothing is silenced invisibly."""

    target: AlertTarget
    datasets: tuple[str, ...]
    silenced: tuple[Silenced, ...] = ()
    # Value level: every alerting change a stage dropped, the datasets above included.
    silenced_changes: tuple[SilencedChange, ...] = ()
