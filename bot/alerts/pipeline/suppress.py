"""Stage `suppress`: a value marked false positive on a monitor is quiet in that dataset,
both ways (its removal and its return), until the suppression expires. Value level: the
dataset's other changes still alert."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.alerts.model import AlertTarget
from bot.core.observations import Change


def is_suppressed(change: Change, suppressed: set[tuple[str, str]]) -> bool:
    """Whether the change is about a suppressed (dataset, value): the value it adds, the
    one it removes, or either side of a changed single value."""
    return any(
        (change.dataset, v) in suppressed for v in (change.old_value, change.new_value) if v is not None
    )


class SuppressStage:
    name = "suppress"

    def keep(self, changes: Sequence[Change], target: AlertTarget, now: datetime) -> list[Change]:
        suppressed = {
            (s.dataset, s.value)
            for s in target.suppressions
            if s.kind == "value" and s.dataset and s.value is not None and s.expires_at > now
        }
        if not suppressed:
            return list(changes)
        return [change for change in changes if not is_suppressed(change, suppressed)]
