"""Stage `mute`: a channel that muted a dataset of a monitor (until unmuted, or for a
while: a `mute` suppression either way) gets no alert for it (the changes are still
stored, in history and the digest); a muted lookalike or keyword watch raises no
finding's alert there."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.alerts.model import AlertTarget
from bot.core.observations import Change
from bot.watches.model import WatchTarget


class MuteStage:
    name = "mute"

    def keep(self, changes: Sequence[Change], target: AlertTarget, now: datetime) -> list[Change]:
        muted = {s.dataset for s in target.suppressions if s.kind == "mute" and s.expires_at > now}
        return [change for change in changes if change.dataset not in muted]

    def keep_watches(self, watches: Sequence[WatchTarget], now: datetime) -> list[WatchTarget]:
        return [watch for watch in watches if watch.silenced_by("mute", now) is None]
