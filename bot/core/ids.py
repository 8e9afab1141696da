"""Every action id the bot's buttons carry, in one place."""

from __future__ import annotations

import enum


class ActionId(enum.StrEnum):
    """Prefixes: a message may hold several buttons of one kind, suffixed `_<n>`."""

    INVESTIGATE = "investigate"
    MONITOR = "monitor_indicator"
    MUTE = "mute_dataset"
    UNMUTE = "unmute_dataset"
    ACCEPT = "accept_baseline"
    DISMISS = "dismiss_lookalike"
    TIMELINE = "timeline"
    ACKNOWLEDGE = "ack"
    FALSE_POSITIVE = "false_positive"
    REFINE = "refine_false_positive"
    SNOOZE = "snooze"  # `snooze` (the default), `snooze_7d`, `snooze_30d`
    SNOOZE_WATCH = "snooze_watch"  # a finding's alert: its watches, `snooze_watch[_7d|_30d]`
    LIFT = "lift_suppression"
    ALL_VALUES = "all_values"  # a summary alert's "All N values": the day's changes listed

    def numbered(self, number: int) -> str:
        return f"{self.value}_{number}"
