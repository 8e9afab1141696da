"""Lookalike findings through the alert policy's mute and snooze stages, with two channels
watching the same brand: the real Slack app (signed requests), the real services and
storage, certificates logged in a loopback CT log read by the CT follower, permutations
resolved against the loopback DNS server, and the Slack Web API fake. What one channel
mutes or snoozes keeps its own alerts quiet, never the other's; lifting it restores them."""

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
from bot.server import build_web_app
from bot.surfaces.slack.app import create_app
from bot.surfaces.slack.transport import SlackTransport, build_web_client
from bot.watches.store.lookalikes import PermutationState
from tests.e2e.slack_bot import free_port
from tests.fakes.clock import FakeClock
from tests.fakes.ct_log import CertificateAuthority, CtLogServer, FakeCtLog
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.slack_api import FakeSlackApi, SlackMessage
from tests.fakes.slack_requests import ANALYST, SIGNING_SECRET, SlackConversation, SlackSender

CASE_A, CASE_B = "C0CASEA", "C0CASEB"
OTHER = "U0OTHER"


@dataclass
class Bot:
    services: Services
    sender: SlackSender
    slack: FakeSlackApi
    clock: FakeClock
    log: FakeCtLog
    authority: CertificateAuthority

    def channel(self, channel_id: str, user_id: str = ANALYST) -> SlackConversation:
        return SlackConversation(self.sender, self.slack, user_id=user_id, channel_id=channel_id)

    async def say(self, channel_id: str, text: str, *, user_id: str = ANALYST) -> str:
        return (await self.channel(channel_id, user_id).say(text)).text

    async def logged(self, *names: str) -> None:
        """A certificate for `names` in the loopback log, read by the CT job."""
        self.log.add_certificate(self.authority.certificate_for(list(names)))
        await self.poll()

    async def poll(self) -> None:
        assert self.services.ct is not None
        await self.services.ct.poll()

    async def deliver(self) -> int:
        return sum([(await self.services.outbox.deliver_due()).sent for _ in range(5)])

    def alerts(self, channel_id: str) -> list[SlackMessage]:
        """The finding alerts posted in the channel (the messages with a Not a lookalike button)."""
        return [
            m
            for m in self.slack.posted(channel_id)
            if any(b["action_id"] == "dismiss_lookalike" for b in m.buttons())
        ]

    def replies(self, channel_id: str, alert: SlackMessage) -> list[SlackMessage]:
        return self.slack.posted(channel_id, thread_ts=alert.ts)

    async def click(self, message: SlackMessage, action_id: str, *, user_id: str = ANALYST) -> str:
        button = next(b for b in message.buttons() if b["action_id"] == action_id)
        click = self.sender.button_click(message, button, user_id=user_id)
        assert (await self.sender.send(click)).status == 200
        answers = await self.slack.wait_for(
            lambda: self.slack.responses_to(click.response_key or ""), what=f"the answer to {action_id}"
        )
        return answers[0].text


@pytest_asyncio.fixture
async def bot(
    tmp_path: Path, slack_api: FakeSlackApi, dns_server: FakeDnsServer, ct_logs: CtLogServer
) -> AsyncIterator[Bot]:
    authority = CertificateAuthority()
    log = ct_logs.add_log("argon", authority=authority)
    settings = Settings(
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
    # The bot's day ends a few minutes before the real now: the loopback log stamps its
    # entries with the real time, and a watch matches what was logged after it was set.
    clock = FakeClock(datetime.now(UTC) - timedelta(days=2))
    client = build_web_client(settings, timeout=5)
    services = build_services(settings, SlackTransport(client), clock=clock, datasets=[])
    app = create_app(settings, services.slack_deps(), client=client)
    runner = web.AppRunner(build_web_app(app, services), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    sender = SlackSender(f"http://127.0.0.1:{port}/slack/events", slack_api.root)
    try:
        yield Bot(services, sender, slack_api, clock, log, authority)
    finally:
        await runner.cleanup()
        await services.aclose()


async def watch_in_both(bot: Bot) -> None:
    for channel in (CASE_A, CASE_B):
        assert "Now watching lookalikes of `interfax.ru`" in await bot.say(channel, "lookalikes interfax.ru")
    await bot.poll()  # the log's first sight: read from its tree size on


def suppression_number(listed: dict[str, Any]) -> int:
    [lift] = [
        b["accessory"]["value"]
        for b in listed["blocks"]
        if b.get("accessory", {}).get("action_id", "").startswith("lift_suppression")
    ]
    return int(lift)


async def test_lookalike_mute_keeps_one_channel_quiet_and_lift_restores_it(bot: Bot) -> None:
    await watch_in_both(bot)

    # Only whoever set the watch (or an admin) mutes it; the refusal names them.
    refused = await bot.say(CASE_A, "mute lookalikes interfax.ru", user_id=OTHER)
    assert "Only <@U0ANALYST>, who set the watch on `interfax.ru`" in refused
    assert "Nothing was changed" in refused
    said = await bot.channel(CASE_A).say("mute lookalikes interfax.ru")
    assert said.payload["response_type"] == "in_channel"
    assert "muted lookalikes of `interfax.ru` in this channel until unmuted" in said.text

    # A lookalike's certificate: B is alerted, A is not, and A keeps the finding.
    await bot.logged("www.interfaxru.com", "interfaxru.com")
    assert await bot.deliver() == 1
    assert bot.alerts(CASE_A) == []
    [b_alert] = bot.alerts(CASE_B)
    assert "imitates interfax.ru" in b_alert.all_text()
    listed = await bot.say(CASE_A, "list")
    assert "`interfax.ru` (lookalike watch)" in listed and "1 finding \\u00b7 muted until unmuted" in listed
    assert "muted" not in await bot.say(CASE_B, "list")
    status = await bot.say(CASE_A, "status lookalikes interfax.ru")
    assert "Muted here until unmuted" in status and "1 finding" in status
    history = await bot.say(CASE_A, "history lookalikes interfax.ru")
    assert "interfaxru.com" in history and "not alerted (muted here)" in history

    # Its next certificate: a thread reply in B, nothing in A (no thread, no alert).
    await bot.logged("mail.interfaxru.com")
    assert await bot.deliver() == 1
    assert "Another certificate for `mail.interfaxru.com`" in bot.replies(CASE_B, b_alert)[0].all_text()
    assert bot.slack.posted(CASE_A) == []

    # The mute is listed with the channel's suppressions, and lifted by its number (not by
    # someone else: a mute is its maker's, the watch owner's or an admin's to lift).
    assert "Nothing is silenced" in await bot.say(CASE_B, "suppressions")
    listed = await bot.channel(CASE_A).say("suppressions")
    assert "*mute* on the lookalike watch `interfax.ru` until unmuted" in listed.text
    number = suppression_number(listed.payload)
    assert f"There is no suppression #{number} in this channel" in await bot.say(CASE_B, f"lift {number}")
    assert "or an admin can lift" in await bot.say(CASE_A, f"lift {number}", user_id=OTHER)
    lifted = await bot.say(CASE_A, f"lift {number}")
    assert f"lifted the mute #{number} on the lookalike watch `interfax.ru`" in lifted

    # Lifted: the finding A never saw is alerted with its next certificate; B's thread goes on.
    await bot.logged("login.interfaxru.com")
    assert await bot.deliver() == 2
    [a_alert] = bot.alerts(CASE_A)
    assert "interfaxru.com" in a_alert.text and "imitates interfax.ru" in a_alert.all_text()
    assert len(bot.replies(CASE_B, b_alert)) == 2 and bot.replies(CASE_A, a_alert) == []
    # And a new lookalike reaches both.
    await bot.logged("interfax-secure.com")
    assert await bot.deliver() == 2
    assert len(bot.alerts(CASE_A)) == 2 and len(bot.alerts(CASE_B)) == 2


async def test_lookalike_timed_mute_unmute_and_two_watches_of_a_channel(bot: Bot) -> None:
    await watch_in_both(bot)
    assert "Now watching names containing `interfax`" in await bot.say(CASE_A, "keyword interfax")
    said = await bot.say(CASE_A, "mute lookalikes interfax.ru 12h")
    until = bot.clock() + timedelta(hours=12)
    assert f"muted lookalikes of `interfax.ru` in this channel until {until:%Y-%m-%d %H:%M} UTC" in said

    # Two watches of A match one name: posted while any of them is not muted.
    await bot.logged("interfax-login.com")
    assert await bot.deliver() == 2
    [a_alert] = bot.alerts(CASE_A)
    assert "contains the keyword" in a_alert.all_text() and "brand interfax.ru" in a_alert.all_text()
    assert "muted names containing `interfax`" in await bot.say(CASE_A, "mute keyword interfax")
    assert "already muted in this channel, until unmuted" in await bot.say(CASE_A, "mute keyword interfax 1d")
    await bot.logged("interfax-pay.com")
    assert await bot.deliver() == 1
    assert len(bot.alerts(CASE_A)) == 1 and len(bot.alerts(CASE_B)) == 2

    # `unmute` ends a mute, timed or not; the other watch stays muted.
    assert "unmuted names containing `interfax`" in await bot.say(CASE_A, "unmute keyword interfax")
    await bot.logged("interfax-shop.com")
    assert await bot.deliver() == 2
    assert "interfax-shop.com" in bot.alerts(CASE_A)[-1].text
    listed = await bot.say(CASE_A, "suppressions")
    assert "*mute* on the lookalike watch `interfax.ru` until" in listed and "keyword watch" not in listed
    assert "unmuted lookalikes of `interfax.ru`" in await bot.say(CASE_A, "unmute lookalikes interfax.ru")
    assert "is not muted in this channel" in await bot.say(CASE_A, "unmute lookalikes interfax.ru")
    assert "Nothing is silenced in this channel" in await bot.say(CASE_A, "suppressions")
    assert "is not watched in this channel" in await bot.say(CASE_B, "mute keyword interfax")


async def test_lookalike_snooze_button_and_permutations_and_its_end(
    bot: Bot, dns_server: FakeDnsServer
) -> None:
    await watch_in_both(bot)
    await bot.logged("interfaxru.com")
    assert await bot.deliver() == 2
    [a_alert] = bot.alerts(CASE_A)
    assert [b["action_id"] for b in a_alert.buttons() if b["action_id"].startswith("snooze")] == [
        "snooze_watch",
        "snooze_watch_7d",
        "snooze_watch_30d",
    ]

    # Anyone in the channel snoozes: the watch behind the pressed alert, in that channel.
    said = await bot.click(a_alert, "snooze_watch", user_id=OTHER)
    until = bot.clock() + timedelta(days=1)
    assert f"snoozed lookalikes of `interfax.ru` in this channel until {until:%Y-%m-%d %H:%M} UTC" in said
    listed = await bot.say(CASE_A, "suppressions")
    assert "*snooze* on the lookalike watch `interfax.ru`" in listed

    # A permutation that starts to resolve: a finding for B, silenced in A.
    resolver = bot.services.permutations
    assert resolver is not None and bot.services.lookalikes is not None
    store = bot.services.lookalikes.store
    assert (await resolver.run_due()).findings == 0  # the baseline
    dns_server.set("intefax.ru", "A", ["198.51.100.2"])
    states = await bot.services.db.run(store.permutation_states, ["intefax.ru"])
    aged = [
        PermutationState(s.domain, s.resolves, s.has_mx, s.checked_at - timedelta(days=2))
        for s in states.values()
    ]
    await bot.services.db.run(store.save_permutation_states, aged)
    report = await resolver.run_due()
    assert (report.findings, report.silenced) == (1, 1)
    # The snoozed alert's later certificates go to no thread either.
    await bot.logged("www.interfaxru.com")
    assert await bot.deliver() == 2  # B: the permutation's alert and the thread reply
    assert len(bot.alerts(CASE_A)) == 1 and bot.replies(CASE_A, a_alert) == []
    [b_first, b_permutation] = bot.alerts(CASE_B)
    assert "intefax.ru" in b_permutation.text and len(bot.replies(CASE_B, b_first)) == 1

    # The snooze ends by itself: A is told once, and alerted again.
    bot.clock.advance(days=1, minutes=1)
    await bot.deliver()
    ended = [m for m in bot.slack.posted(CASE_A) if "ended" in m.all_text()]
    assert len(ended) == 1 and "The snooze of lookalikes of `interfax.ru` ended" in ended[0].all_text()
    await bot.deliver()
    assert len([m for m in bot.slack.posted(CASE_A) if "ended" in m.all_text()]) == 1
    await bot.logged("interfax-secure.com")
    assert await bot.deliver() == 2
    assert "interfax-secure.com" in bot.alerts(CASE_A)[-1].text


async def test_lookalike_snooze_command_and_a_button_not_on_a_finding(bot: Bot) -> None:
    await watch_in_both(bot)
    said = await bot.say(CASE_B, "snooze lookalikes interfax.ru 2h")
    assert "snoozed lookalikes of `interfax.ru`" in said
    await bot.logged("interfaxru.com")
    assert await bot.deliver() == 1
    [a_alert] = bot.alerts(CASE_A)
    assert bot.alerts(CASE_B) == []
    # A Snooze watch button on a message that is no finding of this channel changes nothing.
    other = SlackMessage(channel=CASE_B, ts="1.000001", text="x", blocks=a_alert.blocks)
    refused = await bot.click(other, "snooze_watch")
    assert "not a Watchpost lookalike alert on record" in refused
    assert "Nothing is silenced in this channel" in await bot.say(CASE_A, "suppressions")
    assert (await bot.say(CASE_B, "suppressions")).count("*snooze* on the lookalike watch") == 1
