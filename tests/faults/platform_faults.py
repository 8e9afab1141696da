"""What the bot runs on failing under it: Slack (5xx, 429, refused, slow), the DNS server
gone, SQLite locked by another program, and the bot itself killed with SIGKILL in the
middle of a check and in the middle of a delivery, then restarted. Each time a change
is made while the fault lasts, and its alert must arrive exactly once, afterwards."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from tests.fakes.http_sources import FEB, MAR, _mnemonic_row
from tests.fakes.slack_requests import SlackSender
from tests.faults.figures import Figures
from tests.faults.harness import AlertLedger, World, channel_for, until, world, write_lock

DOMAIN = "platform-wpf.com"
ADDRESS = "45.77.20.1"


async def health(w: World) -> dict[str, object]:
    assert w.bot is not None
    async with aiohttp.ClientSession() as session, session.get(f"{w.bot.url}/healthz") as response:
        payload: dict[str, object] = await response.json()
        return payload


async def platform_faults(tmp_path: Path, figures: Figures) -> None:
    """Slack, the DNS server, SQLite and the process itself failing, one after another."""
    database = tmp_path / "platform.db"
    async with world(tmp_path, f"sqlite:///{database}?timeout=0.5") as w:
        w.add_domain(DOMAIN, address=ADDRESS)
        w.seed_monitors()
        channel = channel_for(DOMAIN)
        ledger = AlertLedger(w.slack, figures)
        addresses = [ADDRESS]
        numbers = itertools.count(2)

        def change(why: str) -> str:
            """A new A record: the alert to expect."""
            addresses.append(f"45.77.20.{next(numbers)}")
            w.dns.set(DOMAIN, "A", addresses)
            ledger.expect(channel, addresses[-1], why)
            return addresses[-1]

        bot = await w.start_bot()
        await until(w.all_healthy, timeout=20, what="the baseline")

        # Slack answers 500 (the client's own retry too): the alert waits, then goes once.
        w.slack.inject("chat.postMessage", "500", times=2)
        figures.fault("slack:500")
        change("Slack 500")
        await until(
            lambda: len(w.slack.calls_to("chat.postMessage")) >= 2, timeout=10, what="the failed post"
        )
        assert (await health(w))["undelivered_alerts"] == 1  # held, and said so
        await ledger.delivered(timeout=15)

        # 429 with Retry-After: waited out inside the call.
        w.slack.inject("chat.postMessage", "429", times=1, retry_after=1)
        figures.fault("slack:429")
        change("Slack 429")
        await ledger.delivered(timeout=10)

        # Connection refused: Slack down while a change is found.
        await w.slack.down()
        figures.fault("slack:refused")
        change("Slack unreachable")
        await asyncio.sleep(2.5)
        await w.slack.up()
        await ledger.delivered(timeout=15)

        # Slow Slack: the alert is late, commands are still answered at once.
        w.slack.inject("chat.postMessage", "slow", times=1, delay=2.0)
        figures.fault("slack:slow")
        change("Slack slow")
        await until(lambda: w.slack.faults == {}, timeout=10, what="the slow post to start")
        sender = SlackSender(bot.events_url, w.slack.root)
        reply = await sender.send(sender.slash_command("list", channel_id=channel))
        assert reply.status == 200 and reply.seconds < 3
        await ledger.delivered(timeout=10)

        # The DNS server is gone: the DNS datasets go stale and change nothing. A passive DNS
        # row that appears meanwhile waits for its dataset's live lookups (a dataset that
        # learned nothing live is not diffed) and is alerted once they answer again.
        started = datetime.now(UTC)
        w.dns.down()
        figures.fault("dns:down")
        w.http.mnemonic_rows[DOMAIN].append(_mnemonic_row(f"{DOMAIN}.", "45.77.21.1", "a", FEB, MAR))
        ledger.expect(channel, "45.77.21.1", "a passive DNS change while the DNS server is down")
        await until(lambda: w.failures(DOMAIN, "dns", since=started) >= 2, timeout=15, what="DNS failures")
        assert w.health()[DOMAIN]["dns_records"][1] and w.health()[DOMAIN]["resolutions"][1]
        assert ledger.missing()
        w.dns.up()
        await until(w.all_healthy, timeout=15, what=lambda: f"DNS recovery: {w.unhealthy()}")
        await ledger.delivered(timeout=10)

        # SQLite locked by another program past the busy timeout: checks and the outbox
        # fail while it lasts and resume after; the change made meanwhile is alerted.
        async with write_lock(database):
            figures.fault("sqlite:locked")
            change("SQLite locked")
            await until(lambda: "database is locked" in bot.log(), timeout=10, what="a write to fail")
            await asyncio.sleep(1.5)
        await ledger.delivered(timeout=15)

        # Locked right after Slack took an alert: its delivery is recorded late, never
        # posted twice, even without the history scopes that would find it in the channel.
        w.slack.method_errors["conversations.history"] = "missing_scope"
        w.slack.inject("chat.postMessage", "slow", times=1, delay=1.5)
        posts = len(w.slack.calls_to("chat.postMessage"))
        change("SQLite locked after the post")
        await until(
            lambda: len(w.slack.calls_to("chat.postMessage")) > posts, timeout=10, what="the post to start"
        )
        async with write_lock(database):
            figures.fault("sqlite:locked-after-post")
            await until(
                lambda: "delivery was not recorded" in bot.log(), timeout=10, what="the record to fail"
            )
        await ledger.delivered(timeout=10)
        await until(
            lambda: w.rows("SELECT count(*) FROM outbox WHERE delivered_at IS NULL")[0][0] == 0,
            timeout=5,
            what="the delivery on record",
        )
        del w.slack.method_errors["conversations.history"]

        # SIGKILL in the middle of a check (its DNS answers held back), then a restart.
        w.dns.set_fault("slow:0.6", name=DOMAIN)
        queries = w.dns.query_count(DOMAIN)
        change("killed mid-check")
        await until(lambda: w.dns.query_count(DOMAIN) > queries, timeout=10, what="a check in flight")
        bot.kill()
        figures.fault("sigkill:mid-check")
        w.dns.clear_faults()
        bot = await w.restart_bot()
        await ledger.delivered(timeout=15)

        # SIGKILL while Slack is taking the alert: Slack has it, the bot never heard back.
        # Restarted, the bot finds it in the channel's history once the dead process's
        # lease on it has run out, and does not post it again.
        w.slack.inject("chat.postMessage", "slow", times=1, delay=1.0)
        posts = len(w.slack.calls_to("chat.postMessage"))
        new = change("killed mid-delivery")
        await until(
            lambda: len(w.slack.calls_to("chat.postMessage")) > posts, timeout=10, what="the post to start"
        )
        bot.kill()
        figures.fault("sigkill:mid-delivery")
        await until(lambda: any(new in m.text for m in ledger.alerts()), timeout=5, what="Slack to finish")
        bot = await w.restart_bot()
        w.expire_leases()  # time passes: the dead process's 60 s lease runs out
        await until(
            lambda: w.rows("SELECT count(*) FROM outbox WHERE delivered_at IS NULL")[0][0] == 0,
            timeout=10,
            what="the alert found in the channel",
        )
        assert "already in" in bot.log()
        await asyncio.sleep(1.5)  # a late duplicate or false alert would show by now
        ledger.settle()
