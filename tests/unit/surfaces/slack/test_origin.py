"""Where a button was pressed, from Slack's own fields; values and forms that disagree."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.surfaces.slack.listeners.origin import (
    ELSEWHERE,
    FORGED_FORM,
    UNPLACED,
    FormSeal,
    FormTarget,
    Misplaced,
    check_value,
    pressed_at,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def click(**changes: Any) -> dict[str, Any]:
    """A block_actions payload for a button on a threaded alert reply in C0INTEL."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": "U0ANALYST", "username": "analyst", "name": "analyst", "team_id": "T0WATCH"},
        "api_app_id": "A0WATCHPOST",
        "container": {
            "type": "message",
            "message_ts": "1733480000.000200",
            "channel_id": "C0INTEL",
            "is_ephemeral": False,
        },
        "trigger_id": "1337.4242.abcdef",
        "team": {"id": "T0WATCH", "domain": "watchpost-test"},
        "channel": {"id": "C0INTEL", "name": "threat-intel"},
        "message": {
            "type": "message",
            "ts": "1733480000.000200",
            "thread_ts": "1733470000.000100",
            "text": "alert",
            "blocks": [],
        },
        "actions": [{"type": "button", "action_id": "ack", "value": "98.126.38.107"}],
    }
    payload.update(changes)
    return payload


def test_the_place_is_the_one_slack_names() -> None:
    place = pressed_at(click())
    assert (place.team_id, place.channel_id, place.user_id) == ("T0WATCH", "C0INTEL", "U0ANALYST")
    assert place.message_ts == "1733480000.000200" and place.thread_ts == "1733470000.000100"
    assert not place.ephemeral
    assert place.caller.channel_id == "C0INTEL"


def test_an_ephemeral_message_has_only_its_container() -> None:
    container = {
        "type": "message",
        "message_ts": "1733480000.9",
        "channel_id": "C0INTEL",
        "is_ephemeral": True,
    }
    payload = click(container=container)
    del payload["message"]
    place = pressed_at(payload)
    assert place.channel_id == "C0INTEL" and place.message_ts == "1733480000.9" and place.ephemeral
    # A message in a DM has no `channel` field beside its container in some payloads.
    del payload["channel"]
    assert pressed_at(payload).channel_id == "C0INTEL"


@pytest.mark.parametrize(
    "changes",
    [
        {"channel": {"id": "C0OTHER", "name": "other"}},
        {"container": {"type": "message", "message_ts": "1733480000.000200", "channel_id": "C0OTHER"}},
        {"container": {"type": "message", "message_ts": "1733480000.7", "channel_id": "C0INTEL"}},
    ],
    ids=["channel field", "container channel", "container message"],
)
def test_fields_that_disagree_about_the_place_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(Misplaced, match=ELSEWHERE):
        pressed_at(click(**changes))


def test_a_payload_naming_no_channel_is_refused() -> None:
    with pytest.raises(Misplaced, match=UNPLACED):
        pressed_at(click(container={"type": "view", "view_id": "V1"}, channel=None))


def test_a_value_may_name_only_the_channel_it_was_pressed_in() -> None:
    place = pressed_at(click())
    check_value(json.dumps({"c": "C0INTEL", "ts": "1.2"}), place)
    for plain in ("98.126.38.107", "7d", "42", json.dumps({"i": "evil.com", "d": "whois"}), "[1]", ""):
        check_value(plain, place)
    with pytest.raises(Misplaced, match=ELSEWHERE):
        check_value(json.dumps({"c": "C0OTHER", "ts": "1.2"}), place)


def test_a_sealed_form_opens_only_for_the_user_it_was_sealed_for() -> None:
    seal = FormSeal(SECRET)
    target = FormTarget("C0INTEL", "1733480000.000200", "U0ANALYST")
    metadata = seal.seal(target)
    assert len(metadata) < 3000  # Slack's limit for private_metadata
    assert seal.open(metadata, user_id="U0ANALYST") == target
    text, _, mac = metadata.rpartition(".")
    forged = [
        json.dumps({"c": "C0INTEL", "ts": "1733480000.000200"}),  # what the bot wrote before sealing
        json.dumps({"c": "C0OTHER", "ts": "1.2", "u": "U0ANALYST"}) + "." + mac,  # another target, old seal
        text + "." + mac.upper(),
        text + ".",
        "",
        FormSeal("another-secret").seal(target),
    ]
    for metadata_text in forged:
        with pytest.raises(Misplaced, match=FORGED_FORM.split(":")[0]):
            seal.open(metadata_text, user_id="U0ANALYST")
    with pytest.raises(Misplaced):
        seal.open(metadata, user_id="U0COLLEAGUE")
