"""The walls between channels as SQL (bot/core/walls.py): which monitors a viewer may
learn of, and the facts of the bot's own observations that no channel is shown."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_

from bot.core.walls import OBSERVED_SOURCE, ShareScope, Viewer
from bot.storage.models import ChangeRow, FactRow, Monitor


def visible_monitors(viewer: Viewer) -> tuple[ColumnElement[bool], ...]:
    """The monitors `viewer` may learn of: its own channel's, or under the workspace scope
    its workspace's. Never another workspace's."""
    if viewer.scope is ShareScope.WORKSPACE:
        return (Monitor.team_id == viewer.team_id,)
    return (and_(Monitor.team_id == viewer.team_id, Monitor.channel_id == viewer.channel_id),)


def shown_fact() -> ColumnElement[bool]:
    """Facts a channel may be shown: not one the bot learnt from another subject's facts
    (stored by an earlier version; such facts now leave without an alert)."""
    return FactRow.source != OBSERVED_SOURCE


def shown_change() -> ColumnElement[bool]:
    """Changes a channel may be shown (as shown_fact)."""
    return ChangeRow.source != OBSERVED_SOURCE
