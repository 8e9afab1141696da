"""The Slack surface end to end: the real `watchpost serve`, driven with signed requests
exactly as Slack sends them, posting to the fake Slack Web API. Every message it posts
is checked against Block Kit's limits and for raw mentions by the fake itself."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from bot.storage.db import Database
from bot.storage.engine import create_database_engine
from tests.e2e.slack_bot import ServeProcess
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.http_sources import FEB, MAR, FakeHttpSources, _mnemonic_row
from tests.fakes.slack_api import FakeSlackApi, SlackMessage
from tests.fakes.slack_requests import ANALYST, CHANNEL, SignedRequest, SlackConversation, SlackSender

IP = "98.126.38.107"
NEW_DOMAIN = "www.interfaxru.com"
MONITOR_BUTTON = {
    "type": "button",
    "text": {"type": "plain_text", "text": f"Monitor {IP}"},
    "action_id": "monitor_indicator_0",
    "value": IP,
}


def alert_with_button(slack_api: FakeSlackApi, value: str) -> SlackMessage | None:
    for message in slack_api.posted(CHANNEL):
        for button in message.buttons():
            if button["action_id"].startswith("investigate") and button.get("value") == value:
                return message
    return None


def button_of(message: SlackMessage, prefix: str, value: str) -> dict[str, object]:
    return next(b for b in message.buttons() if b["action_id"].startswith(prefix) and b.get("value") == value)


async def test_slack_monitor_alert_pivot_investigation_home(
    bot: ServeProcess,
    slack: SlackSender,
    slack_api: FakeSlackApi,
    http_sources: FakeHttpSources,
    dns_server: FakeDnsServer,
) -> None:
    # An analyst monitors an IP: acked at once, told (only them) it is set, then the baseline.
    command = slack.slash_command(f"{IP[:-4]}[.]107")
    reply = await slack.send(command)
    assert reply.status == 200 and reply.seconds < 3
    key = command.response_key
    assert key is not None
    set_at = time.monotonic()
    first = await slack_api.wait_for(lambda: slack_api.responses_to(key), what="the monitor reply")
    assert f"Now monitoring `{IP}`" in first[0].text and first[0].payload["response_type"] == "ephemeral"
    assert first[0].at - set_at < 3
    baseline = await slack_api.wait_for(
        lambda: [r for r in slack_api.responses_to(key) if "Baseline for" in r.text], what="the baseline"
    )
    assert "evil-example.com" in baseline[0].text and "resolutions" in baseline[0].text
    assert slack_api.posted(CHANNEL) == []  # the baseline is no alert

    # Passive DNS sees a new domain on the IP: one interactive alert in the channel.
    http_sources.mnemonic_rows[IP].append(_mnemonic_row(f"{NEW_DOMAIN}.", IP, "a", FEB, MAR))
    http_sources.mnemonic_rows[NEW_DOMAIN] = [_mnemonic_row(f"{NEW_DOMAIN}.", IP, "a", FEB, MAR)]
    dns_server.set(NEW_DOMAIN, "A", [IP])
    dns_server.set(NEW_DOMAIN, "NS", ["ns1.bad-dns.net."])
    alert = await slack_api.wait_for(lambda: alert_with_button(slack_api, NEW_DOMAIN), what="the alert")
    assert NEW_DOMAIN in alert.text and f"added `domain` `{NEW_DOMAIN}`" in alert.all_text()
    assert alert.metadata == {"event_type": "watchpost_alert", "event_payload": {"outbox_id": 1}}

    # "Investigate www.interfaxru.com": the investigation lands in the alert's thread.
    click = slack.button_click(alert, button_of(alert, "investigate", NEW_DOMAIN))
    reply = await slack.send(click)
    assert reply.status == 200 and reply.seconds < 3
    investigation = await slack_api.wait_for(
        lambda: slack_api.posted(CHANNEL, thread_ts=alert.ts), what="the investigation in the thread"
    )
    text = investigation[0].all_text()
    assert f"Investigation: {NEW_DOMAIN.replace('.', '[.]')}" in text
    assert "Live DNS" in text and f"`A`: `{IP}`" in text and "ns1.bad-dns.net" in text
    assert "Passive DNS history" in text and "WHOIS / RDAP" in text
    assert f"`{IP}` (in <#{CHANNEL}>): it is this indicator's `A`" in text  # shares infrastructure
    assert button_of(investigation[0], "monitor_indicator", NEW_DOMAIN)
    assert click.response_key is not None
    assert "Investigating" in slack_api.responses_to(click.response_key)[0].text

    # Pivot again from the investigation: the next one stays in the same thread.
    again = slack.button_click(
        investigation[0], button_of(investigation[0], "investigate", "ns1.bad-dns.net")
    )
    await slack.send(again)
    thread = await slack_api.wait_for(
        lambda: (
            len(slack_api.posted(CHANNEL, thread_ts=alert.ts)) == 2
            and slack_api.posted(CHANNEL, thread_ts=alert.ts)
        ),
        what="the second investigation",
    )
    assert "Investigation: ns1[.]bad-dns[.]net" in thread[1].all_text()

    # Pivot again: monitor the new domain from the investigation.
    monitor = slack.button_click(
        investigation[0], button_of(investigation[0], "monitor_indicator", NEW_DOMAIN)
    )
    await slack.send(monitor)
    assert monitor.response_key is not None
    await slack_api.wait_for(
        lambda: [r for r in slack_api.responses_to(monitor.response_key or "") if "Now monitoring" in r.text],
        what="monitoring the pivot",
    )

    # The App Home lists what the user can see, with today's alert.
    slack_api.memberships[ANALYST] = [CHANNEL]
    reply = await slack.send(slack.app_home_opened())
    assert reply.status == 200
    view = await slack_api.wait_for(lambda: slack_api.views.get(ANALYST), what="the App Home")
    home = str(view["blocks"])
    assert IP in home and NEW_DOMAIN in home
    assert "alerted today: resolutions" in home and "1 alert so far" in home

    # Mute a dataset from the alert: said in the channel, naming who did it.
    mute = slack.button_click(alert, next(b for b in alert.buttons() if b["action_id"].startswith("mute")))
    await slack.send(mute)
    muted = await slack_api.wait_for(lambda: slack_api.responses_to(mute.response_key or ""), what="the mute")
    assert muted[0].payload["response_type"] == "in_channel"
    assert f"<@{ANALYST}> muted `resolutions` alerts for `{IP}`" in muted[0].text

    # Accept as baseline: the alert's buttons give way to who accepted it.
    accept = slack.button_click(
        alert, next(b for b in alert.buttons() if b["action_id"] == "accept_baseline")
    )
    await slack.send(accept)
    await slack_api.wait_for(lambda: alert.updates, what="the accepted alert")
    assert alert.buttons() == [] and f"Accepted as the new baseline by <@{ANALYST}>" in alert.all_text()
    assert f"added `domain` `{NEW_DOMAIN}`" in alert.all_text()

    # /unmonitor, and removing what is not monitored: a specific error, nothing changed.
    analyst = SlackConversation(slack, slack_api)
    for expected in (f"Stopped monitoring `{NEW_DOMAIN}`", "Not monitored in this channel"):
        assert expected in (await analyst.say(NEW_DOMAIN, command="/unmonitor")).text
    assert monitors_in(bot) == [IP]


def monitors_in(bot: ServeProcess) -> list[str]:
    engine = create_database_engine(bot.env["DATABASE_URL"])
    try:
        return [m.indicator for m in Database(engine).monitors.list()]
    finally:
        engine.dispose()


async def test_slack_bad_signatures_get_401_and_change_nothing(
    bot: ServeProcess, slack: SlackSender, slack_api: FakeSlackApi
) -> None:
    fake_alert = SlackMessage(
        CHANNEL, "1700000000.000100", "alert", [{"type": "actions", "elements": [MONITOR_BUTTON]}]
    )
    requests = {
        "command": slack.slash_command(IP),
        "click": slack.button_click(fake_alert, MONITOR_BUTTON),
        "event": slack.app_home_opened(),
    }
    for kind, request in requests.items():
        unsigned = {
            k: v
            for k, v in request.headers.items()
            if k not in ("X-Slack-Signature", "X-Slack-Request-Timestamp")
        }
        assert (await slack.send(request, headers=unsigned)).status == 401, kind
        tampered = SignedRequest(request.body.replace(ANALYST.encode(), b"U0MALLORY"), request.headers)
        assert tampered.body != request.body
        assert (await slack.send(tampered)).status == 401, kind
        stale_stamp = int(time.time()) - 6 * 60
        stale = SignedRequest(
            request.body, slack.signed(request.body, request.headers["Content-Type"], timestamp=stale_stamp)
        )
        assert (await slack.send(stale)).status == 401, kind
    await asyncio.sleep(1.0)  # time for any (wrongly) started work to show
    assert slack_api.responses == [] and slack_api.messages == [] and slack_api.views == {}
    assert monitors_in(bot) == []

    # Saving the request URL in Slack: the challenge comes back.
    verification = await slack.send(
        slack.url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
    )
    assert (
        verification.status == 200
        and "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in verification.body
    )

    # The same request, correctly signed, is served: the 401s were the signatures.
    good = slack.slash_command(IP)
    assert (await slack.send(good)).status == 200
    await slack_api.wait_for(lambda: slack_api.responses_to(good.response_key or ""), what="the reply")
    assert monitors_in(bot) == [IP]


async def test_slack_outage_delays_alerts_loses_none_and_restart_resends_none(
    bot: ServeProcess, slack: SlackSender, slack_api: FakeSlackApi, http_sources: FakeHttpSources
) -> None:
    command = slack.slash_command(IP)
    await slack.send(command)
    await slack_api.wait_for(
        lambda: [r for r in slack_api.responses_to(command.response_key or "") if "Baseline" in r.text],
        what="the baseline",
    )
    rows = http_sources.mnemonic_rows[IP]

    # HTTP 500 (twice: slack_sdk retries once), then 429 with Retry-After on the retry.
    slack_api.inject("chat.postMessage", "500", times=2)
    rows.append(_mnemonic_row("first-new.example-bad.com.", IP, "a", FEB, MAR))
    await slack_api.wait_for(lambda: len(slack_api.calls_to("chat.postMessage")) >= 2, what="the failed post")
    assert slack_api.posted(CHANNEL) == []
    slack_api.inject("chat.postMessage", "429", times=1, retry_after=1)
    first = await slack_api.wait_for(lambda: slack_api.posted(CHANNEL), timeout=20, what="the delayed alert")
    assert "first-new.example-bad.com" in first[0].text

    # Connection refused: Slack is down while the next change is found.
    await slack_api.down()
    rows.append(_mnemonic_row("second-new.example-bad.com.", IP, "a", FEB, MAR))
    await asyncio.sleep(2.5)
    await slack_api.up()
    # The first alert is still open: the held one is its follow-up, in its thread.
    held = await slack_api.wait_for(
        lambda: slack_api.posted(CHANNEL, thread_ts=first[0].ts),
        timeout=20,
        what="the alert held during the outage",
    )
    assert "second-new" in held[0].text and len(slack_api.posted(CHANNEL)) == 1

    # A restart resends nothing.
    assert await bot.stop() == 0
    restarted = ServeProcess(bot.env, bot.log_path)
    await restarted.start()
    try:
        await asyncio.sleep(2)  # the outbox ticks every second
        assert len(slack_api.posted(CHANNEL)) == 1
        assert len(slack_api.posted(CHANNEL, thread_ts=first[0].ts)) == 1
    finally:
        assert await restarted.stop() == 0


async def test_slack_untrusted_text_shows_literally_and_pings_nobody(
    bot: ServeProcess, slack: SlackSender, slack_api: FakeSlackApi, dns_server: FakeDnsServer
) -> None:
    domain = "evil-infra.com"
    dns_server.set(domain, "A", ["45.77.10.20"])
    dns_server.set(domain, "TXT", ['"v=spf1 -all"'])
    command = slack.slash_command(domain)
    await slack.send(command)
    await slack_api.wait_for(
        lambda: [r for r in slack_api.responses_to(command.response_key or "") if "Baseline" in r.text],
        what="the baseline",
    )
    dns_server.set(domain, "TXT", ['"v=spf1 -all"', '"<!channel> <https://evil.test|click> & <@U0BOSS>"'])
    alert = await slack_api.wait_for(lambda: slack_api.posted(CHANNEL), what="the TXT alert")
    shown = alert[0].all_text()
    assert "&lt;!channel&gt; &lt;https://evil.test|click&gt; &amp; &lt;@U0BOSS&gt;" in shown
    assert "<!channel>" not in shown and "<https://evil.test" not in shown and "<@U0BOSS>" not in shown

    reply = await SlackConversation(slack, slack_api).say(f"status {domain}")
    assert "&lt;!channel&gt;" in reply.text and "<!channel>" not in reply.text
    # The fake records any raw `<!…>` or `<http…>` as a violation; the fixture checks it.


async def test_slack_socket_mode_serves_commands_without_a_public_url(
    socket_bot: ServeProcess, slack_api: FakeSlackApi
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(socket_bot.events_url, data=b"x") as response,
    ):
        assert response.status in (404, 405)  # no HTTP endpoint in Socket Mode
    sender = SlackSender(socket_bot.events_url, slack_api.root)
    fields = sender.command_fields(IP, "socket-reply")
    await slack_api.socket_send(
        {
            "envelope_id": "env-1",
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": fields,
        }
    )
    await slack_api.wait_for(lambda: slack_api.socket_acks.get("env-1"), what="the Socket Mode ack")
    reply = await slack_api.wait_for(lambda: slack_api.responses_to("socket-reply"), what="the reply")
    assert f"Now monitoring `{IP}`" in reply[0].text
    await slack_api.wait_for(lambda: len(slack_api.responses_to("socket-reply")) >= 2, what="its baseline")
    # Redelivered in a new envelope (the same trigger): acknowledged, and dropped where an
    # HTTP command's replay is (with a worker, by the handover: one row per identity).
    await slack_api.socket_send(
        {
            "envelope_id": "env-2",
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": fields,
        }
    )
    await slack_api.wait_for(lambda: slack_api.socket_acks.get("env-2"), what="the redelivery's ack")
    dropped = "a replayed slash command was dropped"
    await slack_api.wait_for(lambda: dropped in socket_bot.log(), what="the redelivery dropped")
    assert len(slack_api.responses_to("socket-reply")) == 2  # the reply and its baseline, once
