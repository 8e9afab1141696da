"""Buttons and forms act where they were pressed, and Slack's redeliveries run once: the
real `watchpost serve`, signed requests and Socket Mode envelopes as Slack sends them,
the fake Slack Web API."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest

from tests.e2e.slack_bot import ServeProcess
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.slack_api import TEAM_ID, FakeSlackApi, SlackMessage
from tests.fakes.slack_requests import ANALYST, CHANNEL, VERIFICATION_TOKEN, SignedRequest, SlackSender

IP = "98.126.38.107"
REVERSE = "107.38.126.98.in-addr.arpa"
EDGE = "cdn-edge.example-cdn.net"
ELSEWHERE = "C0ELSEWHERE"  # a channel the alert is not in
COLLEAGUE = "U0COLLEAGUE"
FORM = "application/x-www-form-urlencoded"
# A loaded CI machine may take its time; nothing here waits longer than needed.
PATIENCE = 60.0
REFUSED = "belongs to another channel's message: nothing was changed"


async def first_alert(
    bot: ServeProcess, slack: SlackSender, slack_api: FakeSlackApi, dns_server: FakeDnsServer
) -> SlackMessage:
    """Monitor the IP, then give it a reverse name: the alert with its triage buttons, once
    the bot has recorded it as delivered (a click before that is refused)."""
    command = slack.slash_command(IP)
    await slack.send(command)
    await slack_api.wait_for(
        lambda: [r for r in slack_api.responses_to(command.response_key or "") if "Baseline" in r.text],
        what="the baseline",
        timeout=PATIENCE,
    )
    dns_server.set(REVERSE, "PTR", [f"{EDGE}."])
    posted = await slack_api.wait_for(lambda: slack_api.posted(CHANNEL), what="the alert", timeout=PATIENCE)
    await slack_api.wait_for(
        lambda: bot.recorded(CHANNEL, posted[0].ts), what="the alert on record", timeout=PATIENCE
    )
    return posted[0]


def button(message: SlackMessage, action_id: str, **changes: str) -> dict[str, Any]:
    found = next(b for b in message.buttons() if b["action_id"] == action_id)
    return {**found, **changes}


def altered(
    slack: SlackSender, request: SignedRequest, change: Callable[[dict[str, Any]], None]
) -> SignedRequest:
    """The click with its payload changed by `change`, signed afresh (as Slack would sign it)."""
    payload = json.loads(parse_qs(request.body.decode())["payload"][0])
    change(payload)
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return SignedRequest(body, slack.signed(body, FORM), request.response_key)


def pressed_elsewhere(payload: dict[str, Any]) -> None:
    """Slack says the button is on a message in ELSEWHERE; the rest still names the alert's channel."""
    payload["container"]["channel_id"] = ELSEWHERE


async def answer(slack: SlackSender, slack_api: FakeSlackApi, request: SignedRequest) -> str:
    reply = await slack.send(request)
    assert reply.status == 200 and reply.seconds < 3
    answers = await slack_api.wait_for(
        lambda: slack_api.responses_to(request.response_key or ""), what="answer", timeout=PATIENCE
    )
    assert answers[0].payload.get("response_type", "ephemeral") == "ephemeral"
    return answers[0].text


def refine_button(channel_id: str, ts: str) -> dict[str, Any]:
    """The Refine button as the false positive notice carries it."""
    return {
        "type": "button",
        "action_id": "refine_false_positive",
        "text": {"type": "plain_text", "text": "Refine reason or duration"},
        "value": json.dumps({"c": channel_id, "ts": ts}),
    }


async def lift_button(slack: SlackSender, slack_api: FakeSlackApi) -> tuple[SlackMessage, dict[str, Any]]:
    """`/monitor suppressions` in the alert's channel: the listing, and its first Lift button."""
    listing = slack.slash_command("suppressions")
    await slack.send(listing)
    listed = await slack_api.wait_for(
        lambda: slack_api.responses_to(listing.response_key or ""), what="list", timeout=PATIENCE
    )
    blocks = listed[0].payload["blocks"]
    lift = next(b["accessory"] for b in blocks if "lift" in str((b.get("accessory") or {}).get("action_id")))
    return SlackMessage(CHANNEL, "1700000000.000300", listed[0].text, blocks), lift


MISPLACED = {
    # The value names another channel than the one the alert's button was pressed in.
    "acknowledge naming another channel": ("ack", "value"),
    "false positive naming another channel": ("false_positive", "value"),
    # Slack says the button is on a message in another channel; the rest names the alert's.
    "snooze pressed in another channel": ("snooze_7d", "container"),
    "acknowledge pressed in another channel": ("ack", "container"),
    # Someone in another channel presses a Refine button naming the alert.
    "refine naming the alert from another channel": ("refine_false_positive", "value"),
    # The alert's suppression's Lift button, pressed in another channel.
    "lift pressed in another channel": ("lift_suppression", "container"),
}


@pytest.mark.parametrize("case", list(MISPLACED))
async def test_a_button_naming_another_channel_is_refused_and_changes_nothing(
    case: str, bot: ServeProcess, slack: SlackSender, slack_api: FakeSlackApi, dns_server: FakeDnsServer
) -> None:
    alert = await first_alert(bot, slack, slack_api, dns_server)
    action_id, forged = MISPLACED[case]
    before = 0
    if action_id == "refine_false_positive":
        shown = SlackMessage(ELSEWHERE, "1700000000.000200", "notice", [])
        click = slack.button_click(shown, refine_button(CHANNEL, alert.ts), user_id=COLLEAGUE)
    elif action_id == "lift_suppression":
        # The owner's own false positive (the same button, as sent) goes through: it can change.
        owners = slack.button_click(alert, button(alert, "false_positive"))
        assert "quiet here for" in await answer(slack, slack_api, owners)
        before = alert.updates
        shown, lift = await lift_button(slack, slack_api)
        click = altered(slack, slack.button_click(shown, lift), pressed_elsewhere)
    elif forged == "value":
        click = slack.button_click(
            alert, button(alert, action_id, value=json.dumps({"c": ELSEWHERE, "i": IP}))
        )
    else:
        click = altered(slack, slack.button_click(alert, button(alert, action_id)), pressed_elsewhere)

    assert REFUSED in await answer(slack, slack_api, click)

    # Nothing changed: no form, the alert as it was, the suppression still listed.
    assert slack_api.modals == [] and alert.updates == before
    if action_id == "lift_suppression":
        _, still = await lift_button(slack, slack_api)
        assert still["value"] == lift["value"]
        assert "its values are suppressed here until" in alert.all_text() and alert.updates == before


async def test_a_refine_form_with_forged_private_metadata_is_refused(
    bot: ServeProcess, slack: SlackSender, slack_api: FakeSlackApi, dns_server: FakeDnsServer
) -> None:
    alert = await first_alert(bot, slack, slack_api, dns_server)
    key = slack.button_click(alert, button(alert, "false_positive"))
    await slack.send(key)
    await slack_api.wait_for(lambda: alert.updates >= 1, what="the false positive", timeout=PATIENCE)
    notice = await slack_api.wait_for(
        lambda: slack_api.responses_to(key.response_key or ""), what="notice", timeout=PATIENCE
    )
    shown = SlackMessage(CHANNEL, "1700000000.000400", notice[0].payload["text"], notice[0].payload["blocks"])
    await slack.send(slack.button_click(shown, button(shown, "refine_false_positive")))
    modal = (await slack_api.wait_for(lambda: slack_api.modals, what="the modal", timeout=PATIENCE))[0]
    chosen = {"reason": {"reason_choice": "sinkhole"}, "duration": {"duration_choice": "90d"}}

    sealed = str(modal["private_metadata"])
    text, _, mac = sealed.rpartition(".")
    forgeries = {
        "unsealed": json.dumps({"c": CHANNEL, "ts": alert.ts}),
        "altered": text.replace(alert.ts, "1700000000.000001") + "." + mac,
        "resealed by a guess": text + "." + "0" * len(mac),
    }
    for name, metadata in forgeries.items():
        reply = await slack.send(slack.view_submission({**modal, "private_metadata": metadata}, chosen))
        assert reply.status == 200, name
        errors = json.loads(reply.body)
        assert errors["response_action"] == "errors", name
        assert "not opened by Watchpost for you: nothing was changed" in errors["errors"]["reason"], name
    # The genuine form, submitted by someone it was not opened for.
    borrowed = await slack.send(slack.view_submission(modal, chosen, user_id=COLLEAGUE))
    assert json.loads(borrowed.body)["response_action"] == "errors"

    # The genuine form from the one it was opened for: refined, the only edit since.
    genuine = await slack.send(
        slack.view_submission(modal, {**chosen, "reason": {"reason_choice": "parking"}})
    )
    assert genuine.status == 200 and genuine.body == ""
    await slack_api.wait_for(
        lambda: "False positive: parking" in alert.all_text(), what="the refined alert", timeout=PATIENCE
    )
    assert alert.updates == 2 and "sinkhole" not in alert.all_text()


def home_event(event_id: str, user_id: str) -> dict[str, Any]:
    """An app_home_opened event callback as Slack sends it."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": TEAM_ID,
        "api_app_id": "A0WATCHPOST",
        "event": {
            "type": "app_home_opened",
            "user": user_id,
            "channel": "D0HOMECHAN",
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        },
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM_ID, "user_id": "U0WATCHBOT", "is_bot": True}],
        "is_ext_shared_channel": False,
    }


def publishes_for(slack_api: FakeSlackApi, user_id: str) -> int:
    return sum(1 for user, _ in slack_api.published if user == user_id)


def resigned(headers: dict[str, str]) -> int:
    """A timestamp to sign a request again with, never its first signing's (`now - 1` is
    that whenever a second has turned since: the same signature, refused as a replay)."""
    return int(headers["X-Slack-Request-Timestamp"]) - 1


async def test_a_retried_event_and_a_resent_command_run_once_over_http(
    bot: ServeProcess, slack: SlackSender, slack_api: FakeSlackApi
) -> None:
    body = json.dumps(home_event("Ev0RETRIED01", ANALYST)).encode()
    first_headers = slack.signed(body, "application/json")
    first = await slack.send(SignedRequest(body, first_headers))
    assert first.status == 200
    await slack_api.wait_for(
        lambda: publishes_for(slack_api, ANALYST) >= 1, what="the first App Home", timeout=PATIENCE
    )
    # Slack's retry: the same body, freshly signed, with X-Slack-Retry-Num.
    retry_headers = slack.signed(body, "application/json", timestamp=resigned(first_headers))
    retry_headers |= {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    retried = await slack.send(SignedRequest(body, retry_headers))
    assert retried.status == 200
    # Another event after it: once its App Home is out, the retry's would have been too.
    marker = json.dumps(home_event("Ev0MARKER001", COLLEAGUE)).encode()
    await slack.send(SignedRequest(marker, slack.signed(marker, "application/json")))
    await slack_api.wait_for(
        lambda: publishes_for(slack_api, COLLEAGUE) >= 1, what="the marker's App Home", timeout=PATIENCE
    )
    assert publishes_for(slack_api, ANALYST) == 1
    dropped = "Slack delivered event:Ev0RETRIED01 again (retry 1, http_timeout)"
    await slack_api.wait_for(lambda: dropped in bot.log(), what="the retry dropped", timeout=PATIENCE)

    # A slash command delivered twice (the same trigger_id, freshly signed): one answer.
    command = slack.slash_command(f"status {IP}")
    await slack.send(command)
    again_headers = slack.signed(command.body, FORM, timestamp=resigned(command.headers))
    assert (await slack.send(SignedRequest(command.body, again_headers))).status == 200
    marker_command = slack.slash_command("help")
    await slack.send(marker_command)
    await slack_api.wait_for(
        lambda: slack_api.responses_to(marker_command.response_key or ""),
        what="the marker's answer",
        timeout=PATIENCE,
    )
    await slack_api.wait_for(
        lambda: slack_api.responses_to(command.response_key or ""), what="the answer", timeout=PATIENCE
    )
    assert len(slack_api.responses_to(command.response_key or "")) == 1


async def test_a_retried_event_runs_once_in_socket_mode_and_buttons_are_checked_the_same(
    socket_bot: ServeProcess, slack_api: FakeSlackApi
) -> None:
    event = home_event("Ev0SOCKETRETRY", ANALYST)
    envelope = {"type": "events_api", "accepts_response_payload": False, "payload": event}
    await slack_api.socket_send(
        {**envelope, "envelope_id": "env-first", "retry_attempt": 0, "retry_reason": ""}
    )
    await slack_api.wait_for(
        lambda: publishes_for(slack_api, ANALYST) >= 1, what="the first App Home", timeout=PATIENCE
    )
    # Redelivered in a new envelope, the same event_id inside.
    retry = {**envelope, "envelope_id": "env-retry", "retry_attempt": 1, "retry_reason": "timeout"}
    await slack_api.socket_send(retry)
    await slack_api.wait_for(
        lambda: slack_api.socket_acks.get("env-retry"), what="the retry's ack", timeout=PATIENCE
    )
    marker = {**envelope, "payload": home_event("Ev0SOCKETMARK", COLLEAGUE), "envelope_id": "env-marker"}
    await slack_api.socket_send({**marker, "retry_attempt": 0, "retry_reason": ""})
    await slack_api.wait_for(
        lambda: publishes_for(slack_api, COLLEAGUE) >= 1, what="the marker's App Home", timeout=PATIENCE
    )
    assert publishes_for(slack_api, ANALYST) == 1
    dropped = "Slack delivered event:Ev0SOCKETRETRY again (retry 1, timeout)"
    await slack_api.wait_for(lambda: dropped in socket_bot.log(), what="the retry dropped", timeout=PATIENCE)

    # A Refine button naming another channel than where it was pressed: refused alike.
    sender = SlackSender(socket_bot.events_url, slack_api.root)
    refine = refine_button(CHANNEL, "1700000000.000100")
    click = sender.button_click(SlackMessage(ELSEWHERE, "1700000000.000500", "notice", []), refine)
    payload = json.loads(parse_qs(click.body.decode())["payload"][0])
    await slack_api.socket_send(
        {
            "envelope_id": "env-click",
            "type": "interactive",
            "accepts_response_payload": False,
            "payload": payload,
        }
    )
    answers = await slack_api.wait_for(
        lambda: slack_api.responses_to(click.response_key or ""), what="the refusal", timeout=PATIENCE
    )
    assert REFUSED in answers[0].text and slack_api.modals == []
