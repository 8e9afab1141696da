"""Triage values shared by storage, rendering, the use cases and the API (no I/O here):
where the team is with an alert, and what silences a monitor for a while."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


class TriageState(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    EXPECTED = "expected"  # accepted as the new baseline
    FALSE_POSITIVE = "false_positive"

    @property
    def closed(self) -> bool:
        """A closed alert takes no follow-ups: the monitor's next change is a new alert."""
        return self in (TriageState.EXPECTED, TriageState.FALSE_POSITIVE)


@dataclass(frozen=True)
class Triage:
    state: TriageState = TriageState.OPEN
    by: str | None = None  # a Slack user id, or api:<token name>
    at: datetime | None = None
    reason: str | None = None


def overall_triage(per_channel: Sequence[Triage]) -> Triage:
    """One alert's triage across the channels it went to, where one value must stand for
    all (the alert-level field of the API): the channels' common state, last set; open
    (by nobody) while they differ or there is none. Each channel's own is the truth."""
    states = {triage.state for triage in per_channel}
    if len(states) != 1:
        return Triage()
    return max(per_channel, key=lambda triage: (triage.at is not None, triage.at or datetime.min))


class SuppressionKind(enum.StrEnum):
    VALUE = "value"  # a value marked false positive, in one dataset, both directions
    SNOOZE = "snooze"  # the whole monitor
    MUTE = "mute"  # one dataset (or a whole watch), for a while or until unmuted


# A mute "until unmuted" is a mute suppression ending here: numbered like the others, so
# `/monitor suppressions` lists it and `/monitor lift` ends it (as `unmute` does).
UNTIMED = datetime(9999, 1, 1, tzinfo=UTC)


def shown_end(expires_at: datetime) -> datetime | None:
    """A suppression's end as people read it: None for a mute until unmuted."""
    return None if expires_at >= UNTIMED else expires_at


# Reasons offered for a false positive; the first is what one click records.
FALSE_POSITIVE_REASONS = ("CDN or shared hosting", "parking", "owned by us", "sinkhole", "other")
DEFAULT_FALSE_POSITIVE_REASON = FALSE_POSITIVE_REASONS[0]
DEFAULT_SUPPRESSION = timedelta(days=30)
SNOOZE_CHOICES = (timedelta(days=1), timedelta(days=7), timedelta(days=30))
DEFAULT_SNOOZE = SNOOZE_CHOICES[0]


@dataclass(frozen=True)
class SuppressionView:
    """An active (or just ended) suppression, as `/monitor suppressions` lists it."""

    id: int
    kind: SuppressionKind
    indicator: str
    team_id: str
    channel_id: str
    monitor_owner: str
    dataset: str | None
    value: str | None
    reason: str | None
    created_by: str
    created_at: datetime
    expires_at: datetime | None  # None: an untimed mute (until unmuted)
    alert_id: int | None = None  # the alert marked false positive that made it
    delivery_id: int | None = None  # that alert's copy in this channel (an outbox id)
    # A lookalike or keyword watch's (its kind; `indicator` is the watched term), not a monitor's.
    watch: str | None = None


def format_duration(duration: timedelta) -> str:
    """`30m`, `12h`, `7d`, `2w` style, largest whole unit."""
    seconds = int(duration.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{max(1, seconds // 60)}m"
