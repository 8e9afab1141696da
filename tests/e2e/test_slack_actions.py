"""Buttons and forms act where they were pressed, and Slack's redeliveries run once: the
real `watchpost serve`, signed requests and Socket Mode envelopes as Slack sends them,
the fake Slack Web API."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from tests.e2e.slack_bot import ServeProcess, free_port, serve_env
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.slack_api import TEAM_ID, FakeSlackApi, SlackMessage
from tests.fakes.slack_requests import ANALYST, CHANNEL, VERIFICATION_TOKEN, SignedRequest, SlackSender

IP = "98.126.38.107"
REVERSE = "107.38.126.98.in-addr.arpa"
EDGE = "cdn-edge.example-cdn.net"
ELSEWHERE = "C0ELSEWHERE"  # a channel the alert is not in
COLLEAGUE = "U0COLLEAGUE"
FORM = "application/x-www-form-urlencoded"
REFUSED = "belongs to another channel's message: nothing was changed"


async def first_alert(slack: SlackSender, slack_api: FakeSlackApi, dns_server: FakeDnsServer) -> SlackMessage:
    """Monitor the IP, then give it a reverse name: the alert with its triage buttons."""
    command = slack.slash_command(IP)
    await slack.send(command)
    await slack_api.wait_for(
        lambda: [r for r in slack_api.responses_to(command.response_key or "") if "Baseline" in r.text],
        what="the baseline",
    )
    dns_server.set(REVERSE, "PTR", [f"{EDGE}."])
    posted = await slack_api.wait_for(lambda: slack_api.posted(CHANNEL), what="the alert")
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
        lambda: slack_api.responses_to(request.response_key or ""), what="answer"
    )
    assert answers[0].payload.get("response_type", "ephemeral") == "ephemeral"
    return answers[0].text


async def test_buttons_naming_another_channel_are_refused_and_change_nothing(
    bot: ServeProcess, slack: SlackSender, slack_api: FakeSlackApi, dns_server: FakeDnsServer
) -> None:
    alert = await first_alert(slack, slack_api, dns_server)
    elsewhere_value = json.dumps({"c": ELSEWHERE, "i": IP})

    # Values that name another channel than the one the alert button was pressed in.
    for action_id in ("ack", "false_positive", "snooze"):
        click = slack.button_click(alert, button(alert, action_id, value=elsewhere_value))
        assert REFUSED in await answer(slack, slack_api, click), action_id
    # Pressed in another channel, while the payload's other fields name the alert's.
    for action_id in ("ack", "false_positive", "snooze_7d"):
        click = altered(slack, slack.button_click(alert, button(alert, action_id)), pressed_elsewhere)
        assert REFUSED in await answer(slack, slack_api, click), action_id
    # A Refine button, pressed in another channel by someone there, naming the alert.
    notice = SlackMessage(ELSEWHERE, "1700000000.000200", "notice", [])
    refine = {
        "type": "button",
        "action_id": "refine_false_positive",
        "text": {"type": "plain_text", "text": "Refine reason or duration"},
        "value": json.dumps({"c": CHANNEL, "ts": alert.ts}),
    }
    click = slack.button_click(notice, refine, user_id=COLLEAGUE)
    assert REFUSED in await answer(slack, slack_api, click)
    assert slack_api.modals == [] and alert.updates == 0

    # The owner's own false positive (the same button, unaltered) goes through: it can change.
    await slack.send(slack.button_click(alert, button(alert, "false_positive")))
    await slack_api.wait_for(lambda: alert.updates >= 1, what="the false positive")

    # Its suppression's Lift button, pressed elsewhere, lifts nothing.
    listing = slack.slash_command("suppressions")
    await slack.send(listing)
    listed = await slack_api.wait_for(lambda: slack_api.responses_to(listing.response_key or ""), what="list")
    blocks = listed[0].payload["blocks"]
    lift = next(
        b["accessory"] for b in blocks if str((b.get("accessory") or {}).get("action_id")).startswith("lift")
    )
    shown = SlackMessage(CHANNEL, "1700000000.000300", listed[0].text, blocks)
    click = altered(slack, slack.button_click(shown, lift), pressed_elsewhere)
    assert REFUSED in await answer(slack, slack_api, click)
    again = slack.slash_command("suppressions")
    await slack.send(again)
    still = await slack_api.wait_for(lambda: slack_api.responses_to(again.response_key or ""), what="list")
    assert f"#{lift['value']} " in still[0].text
    assert alert.updates == 1


async def test_a_refine_form_with_forged_private_metadata_is_refused(
    bot: ServeProcess, slack: SlackSender, slack_api: FakeSlackApi, dns_server: FakeDnsServer
) -> None:
    alert = await first_alert(slack, slack_api, dns_server)
    key = slack.button_click(alert, button(alert, "false_positive"))
    await slack.send(key)
    await slack_api.wait_for(lambda: alert.updates >= 1, what="the false positive")
    notice = await slack_api.wait_for(lambda: slack_api.responses_to(key.response_key or ""), what="notice")
    shown = SlackMessage(CHANNEL, "1700000000.000400", notice[0].payload["text"], notice[0].payload["blocks"])
    await slack.send(slack.button_click(shown, button(shown, "refine_false_positive")))
    modal = (await slack_api.wait_for(lambda: slack_api.modals, what="the modal"))[0]
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
    await slack_api.wait_for(lambda: "False positive: parking" in alert.all_text(), what="the refined alert")
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


async def test_a_retried_event_and_a_resent_command_run_once_over_http(
    bot: ServeProcess, slack: SlackSender, slack_api: FakeSlackApi
) -> None:
    body = json.dumps(home_event("Ev0RETRIED01", ANALYST)).encode()
    first = await slack.send(SignedRequest(body, slack.signed(body, "application/json")))
    assert first.status == 200
    await slack_api.wait_for(lambda: publishes_for(slack_api, ANALYST) >= 1, what="the first App Home")
    # Slack's retry: the same body, freshly signed, with X-Slack-Retry-Num.
    retry_headers = slack.signed(body, "application/json", timestamp=int(time.time()) - 1)
    retry_headers |= {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    retried = await slack.send(SignedRequest(body, retry_headers))
    assert retried.status == 200
    # Another event after it: once its App Home is out, the retry's would have been too.
    marker = json.dumps(home_event("Ev0MARKER001", COLLEAGUE)).encode()
    await slack.send(SignedRequest(marker, slack.signed(marker, "application/json")))
    await slack_api.wait_for(lambda: publishes_for(slack_api, COLLEAGUE) >= 1, what="the marker's App Home")
    dropped = "Slack delivered event:Ev0RETRIED01 again (retry 1, http_timeout)"
    await slack_api.wait_for(lambda: dropped in bot.log(), what="the retry dropped")
    assert publishes_for(slack_api, ANALYST) == 1

    # A slash command delivered twice (the same trigger_id, freshly signed): one answer.
    command = slack.slash_command(f"status {IP}")
    await slack.send(command)
    again_headers = slack.signed(command.body, FORM, timestamp=int(time.time()) - 1)
    assert (await slack.send(SignedRequest(command.body, again_headers))).status == 200
    marker_command = slack.slash_command("help")
    await slack.send(marker_command)
    await slack_api.wait_for(
        lambda: slack_api.responses_to(marker_command.response_key or ""), what="the marker's answer"
    )
    await slack_api.wait_for(lambda: slack_api.responses_to(command.response_key or ""), what="the answer")
    assert len(slack_api.responses_to(command.response_key or "")) == 1


async def test_a_retried_event_runs_once_in_socket_mode_and_buttons_are_checked_the_same(
    dns_server: FakeDnsServer, slack_api: FakeSlackApi, tmp_path: Path
) -> None:
    env = serve_env(
        dns_server,
        slack_api,
        f"sqlite:///{tmp_path / 'socket.db'}",
        free_port(),
        SLACK_APP_TOKEN=slack_api.app_token,
        SLACK_SIGNING_SECRET="",
    )
    process = ServeProcess(env, tmp_path / "socket.log")
    await process.start()
    try:
        event = home_event("Ev0SOCKETRETRY", ANALYST)
        envelope = {"type": "events_api", "accepts_response_payload": False, "payload": event}
        await slack_api.socket_send(
            {**envelope, "envelope_id": "env-first", "retry_attempt": 0, "retry_reason": ""}
        )
        await slack_api.wait_for(lambda: publishes_for(slack_api, ANALYST) >= 1, what="the first App Home")
        # Redelivered in a new envelope, the same event_id inside.
        retry = {**envelope, "envelope_id": "env-retry", "retry_attempt": 1, "retry_reason": "timeout"}
        await slack_api.socket_send(retry)
        await slack_api.wait_for(lambda: slack_api.socket_acks.get("env-retry"), what="the retry's ack")
        marker = {**envelope, "payload": home_event("Ev0SOCKETMARK", COLLEAGUE), "envelope_id": "env-marker"}
        await slack_api.socket_send({**marker, "retry_attempt": 0, "retry_reason": ""})
        await slack_api.wait_for(
            lambda: publishes_for(slack_api, COLLEAGUE) >= 1, what="the marker's App Home"
        )
        dropped = "Slack delivered event:Ev0SOCKETRETRY again (retry 1, timeout)"
        await slack_api.wait_for(lambda: dropped in process.log(), what="the retry dropped")
        assert publishes_for(slack_api, ANALYST) == 1

        # A Refine button naming another channel than where it was pressed: refused alike.
        sender = SlackSender(process.events_url, slack_api.root)
        refine = {
            "type": "button",
            "action_id": "refine_false_positive",
            "text": {"type": "plain_text", "text": "Refine reason or duration"},
            "value": json.dumps({"c": CHANNEL, "ts": "1700000000.000100"}),
        }
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
            lambda: slack_api.responses_to(click.response_key or ""), what="the refusal"
        )
        assert REFUSED in answers[0].text and slack_api.modals == []
    finally:
        assert await process.stop() == 0
