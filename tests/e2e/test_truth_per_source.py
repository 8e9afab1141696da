"""Truth per source through the real `watchpost serve`: a lame reverse zone or a distrusted
resolver costs the PTR, never what passive DNS says — the seed story is still alerted."""

from __future__ import annotations

from tests.e2e.environment import E2E_CANARY
from tests.e2e.slack_bot import ServeProcess
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.http_sources import FEB, MAR, FakeHttpSources, _mnemonic_row
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.slack_requests import CHANNEL, SlackSender

IP = "98.126.38.107"
REVERSE = "107.38.126.98.in-addr.arpa"
NEW_DOMAIN = "www.interfaxru.com"


async def monitor_and_wait_for_baseline(slack: SlackSender, slack_api: FakeSlackApi) -> str:
    command = slack.slash_command(IP)
    reply = await slack.send(command)
    assert reply.status == 200
    key = command.response_key or ""
    baseline = await slack_api.wait_for(
        lambda: [r for r in slack_api.responses_to(key) if "Baseline for" in r.text], what="the baseline"
    )
    return baseline[0].text


async def seed_story_is_alerted(slack_api: FakeSlackApi, http_sources: FakeHttpSources) -> None:
    http_sources.mnemonic_rows[IP].append(_mnemonic_row(f"{NEW_DOMAIN}.", IP, "a", FEB, MAR))
    alerts = await slack_api.wait_for(
        lambda: [m for m in slack_api.posted(CHANNEL) if NEW_DOMAIN in m.text], timeout=30, what="the alert"
    )
    assert f"added `domain` `{NEW_DOMAIN}`" in alerts[0].all_text()


async def test_seed_story_through_serve_with_a_lame_reverse_zone(
    bot: ServeProcess,
    slack: SlackSender,
    slack_api: FakeSlackApi,
    http_sources: FakeHttpSources,
    dns_server: FakeDnsServer,
) -> None:
    dns_server.set_fault("servfail", REVERSE)
    baseline = await monitor_and_wait_for_baseline(slack, slack_api)
    assert "evil-example.com" in baseline  # passive DNS's baseline, although the PTR failed
    assert slack_api.posted(CHANNEL) == []
    await seed_story_is_alerted(slack_api, http_sources)


async def test_seed_story_through_serve_with_the_resolver_distrusted(
    bot: ServeProcess,
    slack: SlackSender,
    slack_api: FakeSlackApi,
    http_sources: FakeHttpSources,
    dns_server: FakeDnsServer,
) -> None:
    dns_server.remove(E2E_CANARY)  # the canary answers NXDOMAIN: the resolver check fails
    baseline = await monitor_and_wait_for_baseline(slack, slack_api)
    assert "evil-example.com" in baseline
    await seed_story_is_alerted(slack_api, http_sources)
    assert "DNS is off for every dataset" in bot.log()
