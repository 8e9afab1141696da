"""Where a check's changes may be alerted: the monitors (channels) of the checked subject,
as the alert policy sees them, and what the policy decided for each."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AlertTarget:
    """One monitor of the checked subject: a channel its changes may be alerted in."""

    monitor_id: int
    team_id: str
    channel_id: str
    muted: tuple[str, ...] = ()  # datasets this channel muted


@dataclass(frozen=True)
class Silenced:
    """A dataset's changes kept out of one channel's alert, and the stage that did it."""

    dataset: str
    stage: str


@dataclass(frozen=True)
class Routed:
    """The policy's decision for one channel: the datasets to alert there (none: no alert),
    and what was silenced on the way, so nothing is silenced invisibly."""

    target: AlertTarget
    datasets: tuple[str, ...]
    silenced: tuple[Silenced, ...] = ()
