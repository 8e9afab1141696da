"""Stage `mute`: a channel that muted a dataset of a monitor gets no alert for it (the
changes are still stored, in history and the digest); a muted lookalike or keyword watch
(until unmuted, or for a while) raises no finding's alert there."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.model.observations import Change
from bot.model.routing import AlertTarget
from bot.model.watches import WatchTarget


class MuteStage:
    name = "mute"

    def keep(self, changes: Sequence[Change], target: AlertTarget, now: datetime) -> list[Change]:
        muted = set(target.muted)
        return [change for change in changes if change.dataset not in muted]

    def keep_watches(self, watches: Sequence[WatchTarget], now: datetime) -> list[WatchTarget]:
        return [watch for watch in watches if watch.silenced_by("mute", now) is None]
