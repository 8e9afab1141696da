"""Stage `snooze`: a monitor snoozed from an alert (1, 7 or 30 days) gets no alert in that
channel until the snooze ends (the changes are still stored, in history and the digest);
so does a snoozed lookalike or keyword watch (its findings are stored, not alerted)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.alerts.model import AlertTarget
from bot.core.observations import Change
from bot.watches.model import WatchTarget


class SnoozeStage:
    name = "snooze"

    def keep(self, changes: Sequence[Change], target: AlertTarget, now: datetime) -> list[Change]:
        snoozed = any(s.kind == "snooze" and s.expires_at > now for s in target.suppressions)
        return [] if snoozed else list(changes)

    def keep_watches(self, watches: Sequence[WatchTarget], now: datetime) -> list[WatchTarget]:
        return [watch for watch in watches if watch.silenced_by("snooze", now) is None]
