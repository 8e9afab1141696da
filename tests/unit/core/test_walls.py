"""The walls' rule, table-driven: which channels a viewer may learn of, per scope, and
that no scope crosses a workspace."""

from __future__ import annotations

import pytest

from bot.core.walls import ShareScope, Viewer

HERE = ("T1", "C0CASEA")


@pytest.mark.parametrize(
    ("scope", "team_id", "channel_id", "sees"),
    [
        (ShareScope.CHANNEL, "T1", "C0CASEA", True),  # its own channel
        (ShareScope.CHANNEL, "T1", "C0CASEB", False),  # another case of the same team
        (ShareScope.CHANNEL, "T2", "C0CASEA", False),  # the same channel id in another workspace
        (ShareScope.WORKSPACE, "T1", "C0CASEA", True),
        (ShareScope.WORKSPACE, "T1", "C0CASEB", True),  # the workspace shares
        (ShareScope.WORKSPACE, "T2", "C0CASEB", False),  # never across workspaces
        (ShareScope.WORKSPACE, "T2", "C0CASEA", False),
    ],
)
def test_viewer_sees_channel_per_scope(scope: ShareScope, team_id: str, channel_id: str, sees: bool) -> None:
    assert Viewer(*HERE, scope).sees_channel(team_id, channel_id) is sees


def test_viewer_default_scope_is_the_channel() -> None:
    assert Viewer(*HERE).scope is ShareScope.CHANNEL
    assert not Viewer(*HERE).sees_channel("T1", "C0CASEB")


def test_viewer_without_a_channel_sees_no_other_channel() -> None:
    """A caller that did not say where it asks from learns of no channel's monitors."""
    assert not Viewer("T1", "").sees_channel("T1", "C0CASEA")
