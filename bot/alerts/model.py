"""Where a check's changes may be alerted: the monitors (channels) of the checked subject,
as the alert policy sees them, and what the policy decided for each."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from bot.core.observations import Change


@dataclass(frozen=True)
class ActiveSuppression:
    """A suppression of one monitor in force when the check ran (bot/triage/store.py):
    `value` drops the changes of one value of one dataset, both directions; `snooze` the
    whole monitor; `mute` one dataset. Each ends at `expires_at` (a mute until unmuted at
    bot/triage/model.UNTIMED)."""

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
    suppressions: tuple[ActiveSuppression, ...] = ()  # in force: mutes, snoozes, values


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
    # The suppression that did it (its number and end).
    suppression: ActiveSuppression | None = None


@dataclass(frozen=True)
class Routed:
    """The policy's decision for one channel: the datasets to alert there (none: no alert),
    and what was silenced on the way, so nothing is silenced invisibly."""

    target: AlertTarget
    datasets: tuple[str, ...]
    silenced: tuple[Silenced, ...] = ()
    # Value level: every alerting change a stage dropped, the datasets above included.
    silenced_changes: tuple[SilencedChange, ...] = ()


class Fate(enum.StrEnum):
    """What became of one change in one channel."""

    POSTED = "posted"  # in a new alert message
    THREADED = "threaded"  # in the thread of the channel's open alert of the subject
    SILENCED = "silenced"  # a channel stage kept it out (mute, snooze, suppression)
    HELD = "held"  # a check stage kept it for history and the digest only (e.g. same-ASN churn)


@dataclass(frozen=True)
class ChangeVerdict:
    """The answer to "was this change alerted here, and if not, why?" for one channel."""

    change: Change
    team_id: str
    channel_id: str
    fate: Fate
    stage: str | None = None
    suppression: ActiveSuppression | None = None
    outbox_id: int | None = None  # the delivery carrying it (POSTED, THREADED)
    parent_outbox_id: int | None = None  # THREADED: the open alert it follows up


def change_verdicts(
    changes: list[Change] | tuple[Change, ...],
    decisions: list[Routed] | tuple[Routed, ...],
    deliveries: dict[str, int],
    parents: dict[int, int],
) -> list[ChangeVerdict]:
    """Every change's fate in every channel of the subject, from the policy's decisions,
    the delivery made per channel (`deliveries`: channel -> outbox id) and the deliveries
    that follow up an open alert (`parents`: outbox id -> parent outbox id)."""
    verdicts: list[ChangeVerdict] = []
    for decision in decisions:
        target = decision.target
        silenced = {(s.change.dataset, s.change.field, s.change.value): s for s in decision.silenced_changes}
        outbox_id = deliveries.get(target.channel_id)
        parent = parents.get(outbox_id) if outbox_id is not None else None
        for change in changes:
            if not change.alert:
                verdicts.append(ChangeVerdict(change, target.team_id, target.channel_id, Fate.HELD))
                continue
            dropped = silenced.get((change.dataset, change.field, change.value))
            if dropped is not None or change.dataset not in decision.datasets or outbox_id is None:
                stage = (
                    dropped.stage
                    if dropped is not None
                    else next((s.stage for s in decision.silenced if s.dataset == change.dataset), None)
                )
                suppression = dropped.suppression if dropped is not None else None
                verdicts.append(
                    ChangeVerdict(
                        change, target.team_id, target.channel_id, Fate.SILENCED, stage, suppression
                    )
                )
                continue
            fate = Fate.THREADED if parent is not None else Fate.POSTED
            verdicts.append(
                ChangeVerdict(
                    change,
                    target.team_id,
                    target.channel_id,
                    fate,
                    outbox_id=outbox_id,
                    parent_outbox_id=parent,
                )
            )
    return verdicts
