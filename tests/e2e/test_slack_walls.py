"""Walls between channels through the real `watchpost serve` and the fake Slack, default
scope: case A and case B in one workspace and a channel of another workspace monitor
domains that move onto the address case A's secret domain lives on. Case A's alert
says so; B's and the other workspace's alerts, B's status, App Home, digest and B's
webhook say nothing of A's monitors."""

from __future__ import annotations

import json

import pytest

from tests.e2e.slack_bot import ServeProcess
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.slack_api import FakeSlackApi, SlackMessage
from tests.fakes.slack_requests import SlackConversation, SlackSender
from tests.fakes.webhook_receiver import WEBHOOK_SECRET, WebhookReceiver

ADDRESS = "45.77.10.20"
EARLIER = "98.126.38.107"
SECRET = "secret-case-apt.com"  # only case A monitors it
SIBLING = "a-sibling-case.com"
B_SITE = "b-customer-site.net"
T2_SITE = "t2-tenant-site.org"
CDN = "shared-cdn-edge.net"  # case A and case B both monitor it: one alert, two channels
CASE_A, CASE_B, OTHER = "C0CASEA", "C0CASEB", "C0CASET2"
BOB = "U0BOB"


@pytest.fixture
def serve_settings(webhook_receiver: WebhookReceiver) -> dict[str, str]:
    """The default scope, the operator's webhook and case B's."""
    return {
        "WATCHPOST_WEBHOOK_URL": webhook_receiver.url("operator"),
        "WATCHPOST_WEBHOOK_URLS": f"{CASE_B}={webhook_receiver.url('case-b')}",
        "WATCHPOST_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }


def alerts_of(slack_api: FakeSlackApi, channel: str, indicator: str) -> list[SlackMessage]:
    return [m for m in slack_api.posted(channel) if indicator in m.text and ADDRESS in m.all_text()]


async def test_slack_walls_keep_case_a_out_of_case_b_and_another_workspace(
    bot: ServeProcess,
    slack_api: FakeSlackApi,
    dns_server: FakeDnsServer,
    webhook_receiver: WebhookReceiver,
) -> None:
    here = SlackSender(bot.events_url, slack_api.root)
    there = SlackSender(bot.events_url, slack_api.root, team_id="T0OTHERWS")
    case_a = SlackConversation(here, slack_api, channel_id=CASE_A)
    case_b = SlackConversation(here, slack_api, user_id=BOB, channel_id=CASE_B)
    other = SlackConversation(there, slack_api, channel_id=OTHER)
    dns_server.set(SECRET, "A", [ADDRESS])
    for domain in (SIBLING, B_SITE, T2_SITE, CDN):
        dns_server.set(domain, "A", [EARLIER])
    for conversation, domain in (
        (case_a, SECRET),
        (case_a, SIBLING),
        (case_a, CDN),
        (case_b, B_SITE),
        (case_b, CDN),
        (other, T2_SITE),
    ):
        request = await conversation.send(domain)
        key = request.response_key or ""
        await slack_api.wait_for(
            lambda key=key: [r for r in slack_api.responses_to(key) if "Baseline" in r.text],
            timeout=60,
            what=f"the baseline of {domain}",
        )

    # Four domains move onto case A's address.
    for domain in (SIBLING, B_SITE, T2_SITE, CDN):
        dns_server.set(domain, "A", [ADDRESS])
    own = await slack_api.wait_for(
        lambda: alerts_of(slack_api, CASE_A, SIBLING), timeout=60, what="A's alert"
    )
    assert f"`{ADDRESS}` with `{SECRET}`" in own[0].all_text()  # a channel sees its own monitors
    for channel, domain in ((CASE_B, B_SITE), (OTHER, T2_SITE)):
        [alert] = await slack_api.wait_for(
            lambda channel=channel, domain=domain: alerts_of(slack_api, channel, domain),
            timeout=60,
            what=f"the alert of {domain}",
        )
        shown = alert.all_text()
        assert SECRET not in shown and SIBLING not in shown and CASE_A not in shown, shown

    # B's status, App Home and digest: nothing of A.
    status = await case_b.say(f"status {B_SITE}")
    assert B_SITE in status.text and SECRET not in json.dumps(status.payload)
    slack_api.memberships[BOB] = [CASE_B]
    await here.send(here.app_home_opened(BOB))
    home = await slack_api.wait_for(lambda: slack_api.views.get(BOB), timeout=60, what="B's App Home")
    assert B_SITE in json.dumps(home) and SECRET not in json.dumps(home) and CASE_A not in json.dumps(home)
    await case_b.send("digest")
    parent = await slack_api.wait_for(
        lambda: [m for m in slack_api.posted(CASE_B) if m.text.startswith("Watchpost digest")],
        timeout=60,
        what="B's digest",
    )
    csvs = await slack_api.wait_for(
        lambda: [f for f in slack_api.files.values() if f.thread_ts == parent[0].ts and f.content] or None,
        timeout=60,
        what="the CSVs of B's digest",
    )
    assert any(B_SITE.encode() in (f.content or b"") for f in csvs)
    assert not any(SECRET.encode() in (f.content or b"") for f in csvs)

    # B's webhook: B's alerts, each listing B's channel only; the operator's lists both.
    def webhook_of(path: str) -> dict[str, object] | None:
        return next(
            (
                d.json
                for d in webhook_receiver.received
                if d.path == path and CDN in d.json["alert"]["indicator"]
            ),
            None,
        )

    cdn_to_b = await slack_api.wait_for(lambda: webhook_of("/case-b"), timeout=60, what="B's webhook")
    assert [c["channel"] for c in cdn_to_b["alert"]["channels"]] == [CASE_B]
    cdn_to_all = await slack_api.wait_for(
        lambda: webhook_of("/operator"), timeout=60, what="the global webhook"
    )
    assert sorted(c["channel"] for c in cdn_to_all["alert"]["channels"]) == [CASE_A, CASE_B]
    to_b = [d.json for d in webhook_receiver.received if d.path == "/case-b"]
    assert all(d.valid for d in webhook_receiver.received)
    assert not any(SECRET in json.dumps(body) or CASE_A in json.dumps(body) for body in to_b)
    # Everything B's channel and the other workspace were ever sent, threads included.
    for channel in (CASE_B, OTHER):
        sent = [m for m in slack_api.messages if m.channel == channel]
        assert sent and not any(SECRET in m.all_text() or SIBLING in m.all_text() for m in sent)
