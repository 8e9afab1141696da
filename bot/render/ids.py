"""Every action id the bot's buttons carry, in one place."""

from __future__ import annotations

import enum


class ActionId(enum.StrEnum):
    """Prefixes: a message may hold several buttons of one kind, suffixed `_<n>`."""

    INVESTIGATE = "investigate"
    MONITOR = "monitor_indicator"
    MUTE = "mute_dataset"
    ACCEPT = "accept_baseline"
    DISMISS = "dismiss_lookalike"
    TIMELINE = "timeline"

    def numbered(self, number: int) -> str:
        return f"{self.value}_{number}"
