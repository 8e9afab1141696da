"""Each channel triages its own copy of an alert, end to end: the real `watchpost serve`,
signed button clicks (HTTP) and Socket Mode envelopes as Slack sends them, the fake
Slack Web API. Case A and case B monitor one domain; one change, one alert in each.
What is pressed in one channel edits that channel's message only."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs

from tests.e2e.slack_bot import ServeProcess
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.slack_api import FakeSlackApi, SlackMessage
from tests.fakes.slack_requests import SlackSender

DOMAIN = "shared-cdn-edge.net"
EARLIER, LATER = "98.126.38.107", "45.77.10.20"
CASE_A, CASE_B, OTHER = "C0CASEA", "C0CASEB", "C0CASET2"
ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"
PATIENCE = 60.0


def button(message: SlackMessage, action_id: str) -> dict[str, Any]:
    return next(b for b in message.buttons() if b["action_id"] == action_id)


def alert_in(slack_api: FakeSlackApi, channel: str) -> list[SlackMessage]:
    return [m for m in slack_api.posted(channel) if DOMAIN in m.text and LATER in m.all_text()]


async def both_alerts(
    bot: ServeProcess, send_command: Any, slack_api: FakeSlackApi, dns_server: FakeDnsServer
) -> tuple[SlackMessage, SlackMessage]:
    dns_server.set(DOMAIN, "A", [EARLIER])
    for channel, user in ((CASE_A, ALICE), (CASE_B, BOB)):
        key = await send_command(DOMAIN, channel, user)
        await slack_api.wait_for(
            lambda key=key: [r for r in slack_api.responses_to(key) if "Baseline" in r.text],
            timeout=PATIENCE,
            what=f"the baseline in {channel}",
        )
    dns_server.set(DOMAIN, "A", [LATER])
    [in_a] = await slack_api.wait_for(lambda: alert_in(slack_api, CASE_A), timeout=PATIENCE, what="A's alert")
    [in_b] = await slack_api.wait_for(lambda: alert_in(slack_api, CASE_B), timeout=PATIENCE, what="B's alert")
    for channel, message in ((CASE_A, in_a), (CASE_B, in_b)):  # on record: a click before is refused
        await slack_api.wait_for(
            lambda channel=channel, message=message: bot.recorded(channel, message.ts),
            timeout=PATIENCE,
            what=f"{channel}'s alert on record",
        )
    return in_a, in_b


async def test_slack_walls_triage_over_http_stays_in_its_channel(
    bot: ServeProcess, slack: SlackSender, slack_api: FakeSlackApi, dns_server: FakeDnsServer
) -> None:
    other_workspace = SlackSender(bot.events_url, slack_api.root, team_id="T0OTHERWS")

    async def send_command(text: str, channel: str, user: str) -> str:
        sender = other_workspace if channel == OTHER else slack
        request = sender.slash_command(text, channel_id=channel, user_id=user)
        assert (await sender.send(request)).status == 200
        return request.response_key or ""

    # The same domain in a channel of another workspace: its copy is never touched either.
    dns_server.set(DOMAIN, "A", [EARLIER])
    key = await send_command(DOMAIN, OTHER, CAROL)
    await slack_api.wait_for(
        lambda: [r for r in slack_api.responses_to(key) if "Baseline" in r.text],
        timeout=PATIENCE,
        what="the other workspace's baseline",
    )

    async def click(message: SlackMessage, action_id: str, user: str) -> str:
        request = slack.button_click(message, button(message, action_id), user_id=user)
        assert (await slack.send(request)).status == 200
        return request.response_key or ""

    in_a, in_b = await both_alerts(bot, send_command, slack_api, dns_server)
    b_before = in_b.all_text()

    # Acknowledged in A: A's message says who; B's is never edited.
    await click(in_a, "ack", ALICE)
    await slack_api.wait_for(lambda: in_a.updates >= 1, timeout=PATIENCE, what="A's acknowledged alert")
    assert f"Acknowledged by <@{ALICE}>" in in_a.all_text()
    # B's owner marks B's copy false positive: B closes, A keeps its buttons and its state.
    fp_key = await click(in_b, "false_positive", BOB)
    await slack_api.wait_for(lambda: in_b.updates >= 1, timeout=PATIENCE, what="B's false positive")
    assert "False positive: " in in_b.all_text() and in_b.buttons() == []
    assert f"Acknowledged by <@{ALICE}>" in in_a.all_text() and "False positive: " not in in_a.all_text()
    assert in_a.updates == 1 and in_b.all_text() != b_before
    # Snoozed in A: A's message shows it, B's copy is not edited again.
    await click(in_a, "snooze", ALICE)
    await slack_api.wait_for(lambda: in_a.updates >= 2, timeout=PATIENCE, what="A's snooze")
    assert in_b.updates == 1
    # B's owner refines B's false positive in the form: B's message only.
    [notice] = await slack_api.wait_for(
        lambda: slack_api.responses_to(fp_key), timeout=PATIENCE, what="B's false positive notice"
    )
    shown = SlackMessage(CASE_B, in_b.ts, notice.payload["text"], notice.payload["blocks"])
    a_updates = in_a.updates
    await click(shown, "refine_false_positive", BOB)
    [modal] = await slack_api.wait_for(lambda: slack_api.modals, timeout=PATIENCE, what="the form")
    form = slack.view_submission(
        modal, {"reason": {"reason_choice": "sinkhole"}, "duration": {"duration_choice": "90d"}}, user_id=BOB
    )
    assert (await slack.send(form)).status == 200
    await slack_api.wait_for(
        lambda: "False positive: sinkhole" in in_b.all_text(), timeout=PATIENCE, what="B's refined alert"
    )
    assert in_a.updates == a_updates and "sinkhole" not in in_a.all_text()
    # B's suppressions list holds B's false positive; A's holds none of it.
    answers = {}
    for channel, user, expected in ((CASE_A, ALICE, False), (CASE_B, BOB, True)):
        key = await send_command("suppressions", channel, user)
        [answer] = await slack_api.wait_for(
            lambda key=key: slack_api.responses_to(key), timeout=PATIENCE, what=f"{channel}'s suppressions"
        )
        assert (LATER in answer.text or EARLIER in answer.text) is expected, answer.text
        answers[channel] = answer.text
    # Lifted in B: B's message is edited, A's and the other workspace's are not.
    number = re.search(r"#(\d+)", answers[CASE_B])
    assert number is not None, answers[CASE_B]
    a_updates, b_updates = in_a.updates, in_b.updates
    key = await send_command(f"lift {number.group(1)}", CASE_B, BOB)
    await slack_api.wait_for(lambda: slack_api.responses_to(key), timeout=PATIENCE, what="the lift")
    await slack_api.wait_for(lambda: in_b.updates > b_updates, timeout=PATIENCE, what="B's edited alert")
    assert in_a.updates == a_updates
    [in_other] = alert_in(slack_api, OTHER)
    assert in_other.updates == 0


async def test_slack_walls_triage_over_socket_mode_stays_in_its_channel(
    socket_bot: ServeProcess, slack_api: FakeSlackApi, dns_server: FakeDnsServer
) -> None:
    sender = SlackSender(socket_bot.events_url, slack_api.root)
    envelopes = iter(range(1, 1000))

    async def send_command(text: str, channel: str, user: str) -> str:
        key = f"socket-{next(envelopes)}"
        await slack_api.socket_send(
            {
                "envelope_id": f"env-{key}",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": sender.command_fields(text, key, channel_id=channel, user_id=user),
            }
        )
        return key

    async def click(message: SlackMessage, action_id: str, user: str) -> None:
        request = sender.button_click(message, button(message, action_id), user_id=user)
        payload = json.loads(parse_qs(request.body.decode())["payload"][0])
        envelope_id = f"env-click-{next(envelopes)}"
        await slack_api.socket_send(
            {
                "envelope_id": envelope_id,
                "type": "interactive",
                "accepts_response_payload": False,
                "payload": payload,
            }
        )
        await slack_api.wait_for(
            lambda: slack_api.socket_acks.get(envelope_id), timeout=PATIENCE, what="the click's ack"
        )

    in_a, in_b = await both_alerts(socket_bot, send_command, slack_api, dns_server)

    # Accepted as the new baseline in B: B's message says so, A's is never edited.
    await click(in_b, "accept_baseline", BOB)
    await slack_api.wait_for(lambda: in_b.updates >= 1, timeout=PATIENCE, what="B's accepted alert")
    assert "Accepted as the new baseline" in in_b.all_text()
    # A acknowledges its copy: A edited, B not again, and B's state stays accepted.
    await click(in_a, "ack", ALICE)
    await slack_api.wait_for(lambda: in_a.updates >= 1, timeout=PATIENCE, what="A's acknowledged alert")
    assert "Accepted as the new baseline" not in in_a.all_text()
    assert in_b.updates == 1 and "Acknowledged" not in in_b.all_text()
