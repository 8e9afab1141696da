"""Triage end to end: the real `watchpost serve`, signed button clicks as Slack sends them,
and the fake Slack Web API. The scenario: acknowledge → false positive → the value flaps
away and back → silence; a second change → a new alert → a follow-up in its thread →
snooze → silence. The transcript of what the fake received is written next to the log
(and printed with `-s`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.storage.db import Database
from bot.storage.engine import create_database_engine
from tests.e2e.slack_bot import ServeProcess
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.http_sources import FEB, MAR, FakeHttpSources, _mnemonic_row
from tests.fakes.slack_api import TEAM_ID, FakeSlackApi, SlackMessage
from tests.fakes.slack_requests import ANALYST, CHANNEL, SlackSender

IP = "98.126.38.107"
COLLEAGUE = "U0COLLEAGUE"
FLAPPING = "cdn-edge.example-cdn.net"
REVERSE = "107.38.126.98.in-addr.arpa"


def button(message: SlackMessage, action_id: str) -> dict[str, Any]:
    return next(b for b in message.buttons() if b["action_id"] == action_id)


def count(bot: ServeProcess, what: Callable[[Database], int]) -> int:
    engine = create_database_engine(bot.env["DATABASE_URL"])
    try:
        return what(Database(engine))
    finally:
        engine.dispose()


def silenced(bot: ServeProcess) -> int:
    return count(
        bot,
        lambda db: db.triage.silenced_count(
            TEAM_ID,
            CHANNEL,
            since=datetime(2000, 1, 1, tzinfo=UTC),
            until=datetime(2100, 1, 1, tzinfo=UTC),
        ),
    )


async def click(
    slack: SlackSender, slack_api: FakeSlackApi, message: SlackMessage, action_id: str, user_id: str = ANALYST
) -> str:
    """Click a button; the first response_url reply (if any comes within a second) or ''."""
    request = slack.button_click(message, button(message, action_id), user_id=user_id)
    reply = await slack.send(request)
    assert reply.status == 200 and reply.seconds < 3
    return request.response_key or ""


async def test_slack_triage_scenario_ack_false_positive_flap_follow_up_snooze(
    bot: ServeProcess,
    slack: SlackSender,
    slack_api: FakeSlackApi,
    http_sources: FakeHttpSources,
    dns_server: FakeDnsServer,
    tmp_path: Path,
) -> None:
    command = slack.slash_command(IP)
    await slack.send(command)
    await slack_api.wait_for(
        lambda: [r for r in slack_api.responses_to(command.response_key or "") if "Baseline" in r.text],
        what="the baseline",
    )
    rows = http_sources.mnemonic_rows[IP]

    # The IP's reverse name appears (a CDN edge): one alert, with the triage buttons.
    dns_server.set(REVERSE, "PTR", [f"{FLAPPING}."])
    first = await slack_api.wait_for(lambda: slack_api.posted(CHANNEL), what="the first alert")
    alert = first[0]
    await slack_api.wait_for(lambda: bot.recorded(CHANNEL, alert.ts), what="the alert on record", timeout=60)
    assert FLAPPING in alert.all_text()
    ids = [b["action_id"] for b in alert.buttons()]
    assert {"ack", "false_positive", "snooze", "snooze_7d", "snooze_30d", "accept_baseline"} <= set(ids)

    # Acknowledge: edited in place, who and when; the Acknowledge button gives way.
    await click(slack, slack_api, alert, "ack")
    await slack_api.wait_for(lambda: alert.updates >= 1, what="the acknowledged alert")
    assert f"Acknowledged by <@{ANALYST}> on " in alert.all_text()
    assert "ack" not in [b["action_id"] for b in alert.buttons()]

    # A colleague may not mark it false positive: told so, only them; nothing changes.
    key = await click(slack, slack_api, alert, "false_positive", user_id=COLLEAGUE)
    refusal = await slack_api.wait_for(lambda: slack_api.responses_to(key), what="the refusal")
    assert refusal[0].payload["response_type"] == "ephemeral"
    assert f"Only <@{ANALYST}>, who added `{IP}` here" in refusal[0].text
    assert alert.updates == 1

    # The owner marks it false positive: at once, with the defaults shown.
    key = await click(slack, slack_api, alert, "false_positive")
    await slack_api.wait_for(lambda: alert.updates >= 2, what="the false positive")
    assert "False positive: CDN or shared hosting, marked by <@U0ANALYST>" in alert.all_text()
    assert "its values are suppressed here until" in alert.all_text() and alert.buttons() == []
    notice = await slack_api.wait_for(lambda: slack_api.responses_to(key), what="the false positive notice")
    assert "quiet here for 30d, both ways" in notice[0].text

    # The analyst refines it in a modal: another reason, a longer quiet.
    shown = SlackMessage(CHANNEL, alert.ts, notice[0].payload["text"], notice[0].payload["blocks"])
    await click(slack, slack_api, shown, "refine_false_positive")
    modal = await slack_api.wait_for(lambda: slack_api.modals, what="the false positive modal")
    submitted = slack.view_submission(
        modal[0], {"reason": {"reason_choice": "sinkhole"}, "duration": {"duration_choice": "90d"}}
    )
    assert (await slack.send(submitted)).status == 200
    await slack_api.wait_for(lambda: "False positive: sinkhole" in alert.all_text(), what="the refined alert")
    assert alert.buttons() == []

    # The value flaps away and back: both stored as suppressed, nothing posted.
    dns_server.remove(REVERSE, "PTR")
    await slack_api.wait_for(lambda: silenced(bot) >= 1, timeout=20, what="the removal, silenced")
    dns_server.set(REVERSE, "PTR", [f"{FLAPPING}."])
    await slack_api.wait_for(lambda: silenced(bot) >= 2, timeout=20, what="the return, silenced")
    assert slack_api.posted(CHANNEL) == [alert] and slack_api.posted(CHANNEL, thread_ts=alert.ts) == []

    # A second change: a new top-level alert (the first is closed).
    rows.append(_mnemonic_row("second-new.example-bad.com.", IP, "a", FEB, MAR))
    posted = await slack_api.wait_for(
        lambda: len(slack_api.posted(CHANNEL)) >= 2 and slack_api.posted(CHANNEL), what="the second alert"
    )
    second = posted[1]
    assert "second-new.example-bad.com" in second.all_text() and FLAPPING not in second.all_text()

    # A third change while it is open: in its thread; the alert counts it.
    rows.append(_mnemonic_row("third-new.example-bad.com.", IP, "a", FEB, MAR))
    thread = await slack_api.wait_for(
        lambda: slack_api.posted(CHANNEL, thread_ts=second.ts), what="the follow-up in the thread"
    )
    assert "third-new.example-bad.com" in thread[0].all_text() and "Follow-up on" in thread[0].all_text()
    await slack_api.wait_for(lambda: "1 change since" in second.all_text(), what="the count on the alert")
    assert len(slack_api.posted(CHANNEL)) == 2  # no new top-level message

    # Snooze (anyone in the channel): the monitor is silenced; status says until when.
    before = silenced(bot)
    key = await click(slack, slack_api, second, "snooze", user_id=COLLEAGUE)
    await slack_api.wait_for(
        lambda: "snoozed by <@U0COLLEAGUE> until" in second.all_text(), what="the snooze"
    )
    rows.append(_mnemonic_row("fourth-new.example-bad.com.", IP, "a", FEB, MAR))
    await slack_api.wait_for(lambda: silenced(bot) > before, timeout=20, what="the snoozed change, silenced")
    assert len(slack_api.posted(CHANNEL)) == 2 and len(slack_api.posted(CHANNEL, thread_ts=second.ts)) == 1
    status = slack.slash_command(f"status {IP}")
    await slack.send(status)
    shown = await slack_api.wait_for(lambda: slack_api.responses_to(status.response_key or ""), what="status")
    assert "snoozed until" in shown[0].text

    # Everything silenced is listed, with who and until when.
    listing = slack.slash_command("suppressions")
    await slack.send(listing)
    listed = await slack_api.wait_for(lambda: slack_api.responses_to(listing.response_key or ""), what="list")
    assert (
        f"`{FLAPPING}`" in listed[0].text
        and "snooze" in listed[0].text
        and "lift_suppression_" in listed[0].text
    )

    transcript = slack_api.transcript()
    (tmp_path / "transcript.txt").write_text("\n".join(transcript))
    print("\n--- what the fake Slack received ---\n" + "\n".join(transcript))
    top_level = len(slack_api.posted(CHANNEL))
    follow_ups = sum(len(slack_api.posted(CHANNEL, thread_ts=m.ts)) for m in slack_api.posted(CHANNEL))
    print(
        f"figures: alerts (top-level) {top_level}, thread follow-ups {follow_ups}, suppressed {silenced(bot)}"
    )
    assert (top_level, follow_ups) == (2, 1) and silenced(bot) >= 3
