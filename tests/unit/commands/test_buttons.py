"""Every action id the bot makes reaches a use case of the one button dispatcher."""

from __future__ import annotations

import pytest

from bot.commands.buttons import HANDLERS, action_kind
from bot.core.ids import ActionId


@pytest.mark.parametrize("kind", list(ActionId))
def test_buttons_every_action_id_has_a_handler(kind: ActionId) -> None:
    assert kind in HANDLERS
    assert action_kind(kind.numbered(2)) is kind


@pytest.mark.parametrize("action_id", ["", "investigate_", "snooze_7x", "Investigate", "drop_tables"])
def test_buttons_an_id_the_bot_never_made_has_no_kind(action_id: str) -> None:
    assert action_kind(action_id) is None
