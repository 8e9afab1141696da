"""Walls between channels (no I/O here): whose monitors a channel may learn about.

Teams use channels as walls (one per case, per customer, per need-to-know). What a
channel sees of *other* monitored indicators — the "shares … with …" line of an alert, an
investigation's shared infrastructure and "also monitored here" — is limited by the
scope: `channel` (the default) shows only the channel's own monitors; `workspace` shows
the monitors of every channel of the same workspace, without naming those channels (the
bot cannot cheaply tell a public channel from a private one). Nothing ever crosses
workspaces (Slack team ids), whatever the scope.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# The source name of the bot's own observed resolutions (a monitored domain seen
# resolving to a monitored IP), which an earlier version stored as facts of the IP, shared
# by every channel monitoring it. They crossed the walls, so the source is retired: such
# facts are never shown and close without an alert.
OBSERVED_SOURCE = "watchpost"

# How another channel of the workspace is shown: never by name (it may be private).
ANOTHER_CHANNEL = "another channel of this workspace"


class ShareScope(enum.Enum):
    CHANNEL = "channel"
    WORKSPACE = "workspace"


@dataclass(frozen=True)
class Viewer:
    """Where something is shown: a channel of a workspace, under the operator's scope."""

    team_id: str
    channel_id: str
    scope: ShareScope = ShareScope.CHANNEL

    def sees_channel(self, team_id: str, channel_id: str) -> bool:
        """May this viewer learn of a monitor in that channel?"""
        if team_id != self.team_id:
            return False
        return self.scope is ShareScope.WORKSPACE or channel_id == self.channel_id
