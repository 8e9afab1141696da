"""Lookalike watches end to end in one process: the real Slack app (signed requests),
the real services and storage, the loopback DNS server and the Slack Web API fake. CT
entries are handed to the watcher as the CT follower hands them (its sink)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest_asyncio
from aiohttp import web

from bot.composition import Services, build_services
from bot.config import Secret, Settings, parse_host_port
from bot.core.results import Caller
from bot.server import build_web_app
from bot.surfaces.slack.app import create_app
from bot.surfaces.slack.transport import SlackTransport, build_web_client
from bot.watches.ct.entries import CtEntry
from bot.watches.permutations import permutations
from bot.watches.store.lookalikes import PermutationState
from tests.e2e.slack_bot import free_port
from tests.fakes.ct_log import CertificateAuthority, CtLogServer
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.slack_api import FakeSlackApi, SlackMessage
from tests.fakes.slack_requests import ANALYST, CHANNEL, SIGNING_SECRET, SlackSender

LE = "C=US, O=Let's Encrypt, CN=R11"
CALLER = Caller(team_id="T0TEAM", channel_id=CHANNEL, user_id="U0ANALYST")


@dataclass
class Bot:
    services: Services
    slack: SlackSender

    async def say(self, slack_api: FakeSlackApi, text: str) -> str:
        request = self.slack.slash_command(text)
        reply = await self.slack.send(request)
        assert reply.status == 200
        responses = await slack_api.wait_for(
            lambda: slack_api.responses_to(request.response_key or ""), what=f"the reply to {text}"
        )
        return responses[0].text

    async def feed(self, *entries: CtEntry) -> None:
        assert self.services.lookalikes is not None
        await self.services.lookalikes.handle_entries(list(entries))

    async def deliver(self) -> int:
        sent = 0
        for _ in range(5):  # one message per channel per tick: alert, then its thread
            sent += (await self.services.outbox.deliver_due()).sent
        return sent


@pytest_asyncio.fixture
async def bot(
    tmp_path: Path, slack_api: FakeSlackApi, dns_server: FakeDnsServer, ct_logs: CtLogServer
) -> AsyncIterator[Bot]:
    settings = bot_settings(tmp_path, slack_api, dns_server, ct_logs)
    client = build_web_client(settings, timeout=5)
    services = build_services(settings, SlackTransport(client), datasets=[])
    app = create_app(settings, services.slack_deps(), client=client)
    runner = web.AppRunner(build_web_app(app, services), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield Bot(services, SlackSender(f"http://127.0.0.1:{port}/slack/events", slack_api.root))
    finally:
        await runner.cleanup()
        await services.aclose()


def bot_settings(
    tmp_path: Path, slack_api: FakeSlackApi, dns_server: FakeDnsServer, ct_logs: CtLogServer
) -> Settings:
    return Settings(
        slack_bot_token=Secret(slack_api.token),
        slack_signing_secret=Secret(SIGNING_SECRET),
        slack_api_url=slack_api.base_url,
        database_url=f"sqlite:///{tmp_path / 'watchpost.db'}",
        dns_nameservers=(parse_host_port(dns_server.nameserver, 53),),
        dns_timeout=1.0,
        command_rate=0,
        ct_log_list_url=ct_logs.list_url,
        lookalike_query_budget=100_000,  # a run resolves every permutation of one brand
    )


def entry(log: str, index: int, *names: str, serial: str = "0a1b", precert: bool = False) -> CtEntry:
    return CtEntry(log, index, names, precert, LE, datetime.now(UTC), serial)


def lookalike_alerts(slack_api: FakeSlackApi) -> list[SlackMessage]:
    return [
        m for m in slack_api.posted(CHANNEL) if any(b["action_id"].startswith("dismiss") for b in m.buttons())
    ]


def button(message: SlackMessage, prefix: str) -> dict[str, Any]:
    return next(b for b in message.buttons() if b["action_id"].startswith(prefix))


async def test_lookalike_certificate_alert_thread_and_dismiss(
    bot: Bot, slack_api: FakeSlackApi, dns_server: FakeDnsServer
) -> None:
    said = await bot.say(slack_api, "lookalikes interfax.ru")
    assert "Now watching lookalikes of `interfax.ru`" in said
    assert "Already watched here: `interfax.ru`" in await bot.say(slack_api, "lookalikes interfax.ru")
    dns_server.set("interfaxru.com", "A", ["203.0.113.7"])
    dns_server.set("interfaxru.com", "MX", ["10 mx.interfaxru.com."])

    # The brand's own certificate: nothing. The lookalike's precertificate and its
    # certificate, in two logs: one finding, one alert.
    await bot.feed(entry("log-a", 1, "interfax.ru", "www.interfax.ru", serial="77"))
    await bot.feed(
        entry("log-a", 2, "www.interfaxru.com", "interfaxru.com", precert=True),
        entry("log-b", 9, "www.interfaxru.com", "interfaxru.com"),
    )
    await bot.feed(entry("log-a", 3, "www.interfaxru.com", "interfaxru.com"))
    assert await bot.deliver() == 1
    [alert] = lookalike_alerts(slack_api)
    text = alert.all_text()
    assert "interfaxru.com" in alert.text and "imitates interfax.ru" in text
    assert "various permutation of interfax.ru" in text  # dnstwist's rule, named
    assert "`203.0.113.7`" in text and "`10 mx.interfaxru.com`" in text and "Let's Encrypt" in text
    assert [(b["action_id"], b["value"]) for b in alert.buttons()] == [
        ("investigate_0", "interfaxru.com"),
        ("monitor_indicator_0", "interfaxru.com"),
        ("snooze_watch", "1d"),
        ("snooze_watch_7d", "1w"),
        ("snooze_watch_30d", "30d"),
        ("dismiss_lookalike", "interfaxru.com"),
    ]
    assert alert.metadata is not None and alert.metadata["event_type"] == "watchpost_lookalike"

    # A later certificate (another serial) goes to the alert's thread.
    await bot.feed(entry("log-b", 10, "mail.interfaxru.com", serial="99"))
    assert await bot.deliver() == 1
    [reply] = slack_api.posted(CHANNEL, thread_ts=alert.ts)
    assert "Another certificate for `mail.interfaxru.com`" in reply.all_text()

    # "Not a lookalike": said in the channel, the buttons give way, the domain stays quiet.
    click = bot.slack.button_click(alert, button(alert, "dismiss"))
    assert (await bot.slack.send(click)).status == 200
    said_in_channel = await slack_api.wait_for(
        lambda: slack_api.responses_to(click.response_key or ""), what="the dismissal"
    )
    assert said_in_channel[0].payload["response_type"] == "in_channel"
    assert "dismissed `interfaxru.com`: not a lookalike" in said_in_channel[0].text
    await slack_api.wait_for(lambda: alert.updates, what="the dismissed alert")
    assert alert.buttons() == [] and "stays quiet in this channel" in alert.all_text()
    await bot.feed(entry("log-a", 11, "shop.interfaxru.com", serial="aa"))
    assert await bot.deliver() == 0
    assert len(slack_api.posted(CHANNEL, thread_ts=alert.ts)) == 1

    # Another lookalike still alerts; list, status and history show the watch.
    await bot.feed(entry("log-a", 12, "xn--nterfax-qog.ru"))  # Cyrillic і
    assert await bot.deliver() == 1
    assert "homoglyph of interfax.ru" in lookalike_alerts(slack_api)[-1].all_text()
    listed = await bot.say(slack_api, "list")
    assert "1 lookalike/keyword watches" in listed
    history = slack_api.responses_to(bot.slack.sent[-1].response_key or "")[0].payload["blocks"]
    assert "interfax.ru" in str(history) and "2 findings" in str(history)
    await bot.say(slack_api, "status lookalikes interfax.ru")
    status = str(slack_api.responses_to(bot.slack.sent[-1].response_key or "")[0].payload["blocks"])
    assert "Watching lookalikes of `interfax.ru`" in status and "permutations listed" in status
    assert "2 findings (1 dismissed)" in status
    await bot.say(slack_api, "history lookalikes interfax.ru")
    shown = str(slack_api.responses_to(bot.slack.sent[-1].response_key or "")[0].payload["blocks"])
    assert "interfaxru.com" in shown and "dismissed" in shown and "xn--nterfax-qog.ru" in shown
    assert "Stopped watching lookalikes of `interfax.ru`" in await bot.say(
        slack_api, "remove lookalikes interfax.ru"
    )
    await bot.feed(entry("log-a", 13, "interfax-login.com"))
    assert await bot.deliver() == 0


async def test_lookalike_watch_refusals_and_keywords(bot: Bot, slack_api: FakeSlackApi) -> None:
    assert "public suffix" in await bot.say(slack_api, "lookalikes co.uk")
    assert "one-letter keyword" in await bot.say(slack_api, "keyword x")
    assert "`/monitor keyword sb confirm`" in await bot.say(slack_api, "keyword sb")
    assert "Now watching names containing `sb`" in await bot.say(slack_api, "keyword sb confirm")
    assert bot.services.lookalikes is not None
    watches = await bot.services.db.run(bot.services.lookalikes.store.watches)
    assert [(w.kind.value, w.term) for w in watches] == [("keyword", "sb")]

    # Two watches of the channel match one domain: one alert naming both.
    await bot.say(slack_api, "keyword sberbank")
    await bot.say(slack_api, "lookalikes sberbank.ru")
    await bot.feed(entry("log-a", 1, "sberbank-online.ru"))
    assert await bot.deliver() == 1
    [alert] = lookalike_alerts(slack_api)
    text = alert.all_text()
    assert "contains the keyword 'sb'" in text and "contains the keyword 'sberbank'" in text
    assert "a label contains 'sberbank' (brand sberbank.ru)" in text

    # The App Home shows the watches of the channels the user is in.
    slack_api.memberships[ANALYST] = [CHANNEL]
    assert (await bot.slack.send(bot.slack.app_home_opened())).status == 200
    view = await slack_api.wait_for(lambda: slack_api.views.get(ANALYST), what="the App Home")
    home = str(view["blocks"])
    assert "Lookalike and keyword watches" in home and "`sberbank.ru` (lookalike watch)" in home
    assert "`sberbank` (keyword watch)" in home and "1 finding" in home


async def test_lookalike_history_before_the_watch_is_not_alerted(bot: Bot, slack_api: FakeSlackApi) -> None:
    await bot.say(slack_api, "lookalikes interfax.ru")
    old = CtEntry("log-a", 1, ("interfaxru.com",), False, LE, datetime.now(UTC) - timedelta(days=1), "01")
    await bot.feed(old)
    assert await bot.deliver() == 0


async def test_permutation_that_starts_to_resolve_is_a_finding(
    bot: Bot, slack_api: FakeSlackApi, dns_server: FakeDnsServer
) -> None:
    resolver = bot.services.permutations
    assert resolver is not None
    await bot.say(slack_api, "lookalikes interfax.ru")
    dns_server.set("interfax.com", "A", ["198.51.100.1"])  # exists already: the baseline
    first = await resolver.run_due()
    assert first.findings == 0
    assert dns_server.queries  # asked the loopback server
    assert await bot.deliver() == 0

    # The next day a permutation that was NXDOMAIN resolves, and another gains MX.
    dns_server.set("intefax.ru", "A", ["198.51.100.2"])
    dns_server.set("interfax.com", "MX", ["10 mail.interfax.com."])
    store = bot.services.lookalikes.store if bot.services.lookalikes else None
    assert store is not None
    states = await bot.services.db.run(store.permutation_states, ["intefax.ru", "interfax.com"])
    assert states["intefax.ru"].resolves is False and states["interfax.com"].resolves is True
    aged = [
        PermutationState(s.domain, s.resolves, s.has_mx, s.checked_at - timedelta(days=2))
        for s in states.values()
    ]
    await bot.services.db.run(store.save_permutation_states, aged)
    report = await resolver.run_due()
    assert report.findings == 2
    assert await bot.deliver() == 2
    texts = [m.all_text() for m in lookalike_alerts(slack_api)]
    assert any("intefax.ru" in t and "now resolves (was NXDOMAIN)" in t for t in texts)
    assert any("interfax.com" in t and "now has mail servers (MX)" in t for t in texts)


async def poll(services: Services) -> None:
    assert services.ct is not None
    await services.ct.poll()


async def deliver(services: Services) -> int:
    return sum([(await services.outbox.deliver_due()).sent for _ in range(5)])


async def test_ct_logs_to_one_alert_brand_quiet_restart_catch_up_and_a_failing_log(
    tmp_path: Path, slack_api: FakeSlackApi, dns_server: FakeDnsServer, ct_logs: CtLogServer
) -> None:
    """Real certificates in loopback logs (RFC 6962 and static CT), read by the follower
    the scheduler runs, matched, alerted once; the bot down while one is logged catches
    it up once after restart; a log answering 503 does not stop the other."""
    authority = CertificateAuthority()
    argon = ct_logs.add_log("argon", authority=authority)
    oak = ct_logs.add_log("oak", api="static", authority=authority)
    settings = bot_settings(tmp_path, slack_api, dns_server, ct_logs)
    client = build_web_client(settings, timeout=5)
    services = build_services(settings, SlackTransport(client), datasets=[])
    try:
        said = await services.flows.execute("lookalikes interfax.ru", CALLER)
        assert "Now watching lookalikes" in said.reply.text
        await poll(services)  # first sight of the logs: they start at their tree size
        issued = authority.precertificate_for(["www.interfaxru.com", "interfaxru.com"])
        argon.add_precertificate(issued)
        oak.add_certificate(issued.certificate)
        argon.add_certificate(authority.certificate_for(["interfax.ru", "www.interfax.ru"]))  # the brand
        await poll(services)
        assert await deliver(services) == 1
        [alert] = lookalike_alerts(slack_api)
        assert "imitates interfax.ru" in alert.all_text() and "Loopback Trust Services" in alert.all_text()
        assert {b["action_id"] for b in alert.buttons()} == {
            "investigate_0",
            "monitor_indicator_0",
            "snooze_watch",
            "snooze_watch_7d",
            "snooze_watch_30d",
            "dismiss_lookalike",
        }
    finally:
        await services.aclose()

    # Down: a certificate is logged meanwhile; after the restart it is caught up, once.
    oak.add_certificate(authority.certificate_for(["login.interfax-secure.com"]))
    services = build_services(settings, SlackTransport(build_web_client(settings, timeout=5)), datasets=[])
    try:
        argon.status = 503
        await poll(services)
        assert await deliver(services) == 1
        assert "interfax-secure.com" in lookalike_alerts(slack_api)[-1].all_text()
        await poll(services)
        assert await deliver(services) == 0

        # argon comes back: what it logged while failing is read then.
        argon.status = None
        argon.add_certificate(authority.certificate_for(["interfaxru.net"]))
        await poll(services)
        assert await deliver(services) == 1
        assert len(lookalike_alerts(slack_api)) == 3
    finally:
        await services.aclose()


async def test_permutation_resolution_keeps_within_its_budget(
    bot: Bot, slack_api: FakeSlackApi, dns_server: FakeDnsServer
) -> None:
    resolver = bot.services.permutations
    assert resolver is not None and bot.services.lookalikes is not None
    store = bot.services.lookalikes.store
    await bot.say(slack_api, "lookalikes interfax.ru")
    resolver.budget = 2 * 10 * resolver.runs_per_interval  # ten permutations a run
    asked_before = sum(dns_server.queries.values())
    await resolver.run_due()
    assert sum(dns_server.queries.values()) - asked_before == 20  # A and MX of ten
    await resolver.run_due()
    domains = [p.domain for p in permutations("interfax.ru")]
    states = await bot.services.db.run(store.permutation_states, domains)
    assert len(states) == 20  # the next run took ten others: never resolved first
