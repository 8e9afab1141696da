"""The Bolt registrations are a table: every button the bot makes has one, and it reaches
a use case of the one dispatcher; a form's choices are read the same way for any input."""

from __future__ import annotations

import re

import pytest

from bot.commands.buttons import action_kind
from bot.core.ids import ActionId
from bot.surfaces.slack.listeners.actions import BUTTONS, chosen


@pytest.mark.parametrize("kind", list(ActionId))
def test_actions_table_registers_every_button_once(kind: ActionId) -> None:
    registered = [suffix for registered, suffix in BUTTONS if registered is kind]
    assert len(registered) == 1
    assert re.fullmatch(rf"{kind.value}{registered[0]}", kind.value)


@pytest.mark.parametrize(
    ("action_id", "kind"),
    [
        ("investigate_3", ActionId.INVESTIGATE),
        ("mute_dataset_0", ActionId.MUTE),
        ("snooze_7d", ActionId.SNOOZE),
        ("snooze_watch_30d", ActionId.SNOOZE_WATCH),
        ("snooze_watch", ActionId.SNOOZE_WATCH),
        ("refine_false_positive", ActionId.REFINE),
        ("all_values_12", ActionId.ALL_VALUES),
    ],
)
def test_actions_table_pattern_and_dispatcher_agree_on_the_kind(action_id: str, kind: ActionId) -> None:
    (suffix,) = [suffix for registered, suffix in BUTTONS if registered is kind]
    assert re.fullmatch(rf"{kind.value}{suffix}", action_id)
    assert action_kind(action_id) is kind


def test_actions_chosen_reads_each_selected_option_and_skips_the_rest() -> None:
    view = {
        "state": {
            "values": {
                "reason": {
                    "reason_choice": {"type": "static_select", "selected_option": {"value": "sinkhole"}}
                },
                "duration": {"duration_choice": {"type": "static_select", "selected_option": None}},
                "junk": "not a block",
            }
        }
    }
    assert chosen(view) == {"reason_choice": "sinkhole"}
    assert chosen({}) == {} and chosen({"state": {"values": []}}) == {}
