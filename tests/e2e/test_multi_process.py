"""Three `watchpost serve` processes on one PostgreSQL schema, as a large team runs them
behind a load balancer: every due check is done once (the DNS server counts the
questions about each name), every alert is posted once (the fake Slack keeps every
message), and a digest day missed while the bot was down is posted once, although all
three processes catch up on it at start."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, insert, update

from bot.config import HostPort
from bot.core.mrkdwn import defang
from bot.core.observations import IndicatorKind
from bot.monitoring.datasets.dns_records import DnsRecordsDataset
from bot.monitoring.datasets.resolutions import ResolutionsDataset
from bot.monitoring.dns_mux import MultiplexedDnsClient
from bot.monitoring.runner import Runner
from bot.storage.db import Database
from bot.storage.engine import create_database_engine, migrate
from bot.storage.models import ChangeRow, Monitor, Subject
from tests.e2e.slack_bot import ServeProcess, free_port, serve_env
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.slack_api import FakeSlackApi

SUBJECTS = 240
CHANNELS = 24
QUESTIONS = ("A", "AAAA", "CNAME", "NS", "MX", "TXT", "SOA")  # what one domain check asks
SHARED = "shared.multi-example.com"  # monitored in two channels
DIGEST_CHANNEL = "C0DIGEST"


def name_of(index: int) -> str:
    return f"host{index}.multi-example.com"


WATCHED = [*map(name_of, range(SUBJECTS)), SHARED]


def channel_of(index: int) -> str:
    return f"C0MULTI{index % CHANNELS:02d}"


def counts(dns_server: FakeDnsServer, names: list[str]) -> Counter[tuple[str, str]]:
    return Counter({(n, t): dns_server.query_count(n, t) for n in names for t in QUESTIONS})


async def test_three_processes_check_once_and_post_once(
    postgres_schema_url: str, dns_server: FakeDnsServer, slack_api: FakeSlackApi, tmp_path: Path
) -> None:
    names = [name_of(i) for i in range(SUBJECTS)]
    for index, name in enumerate(names):
        dns_server.set(name, "A", [f"192.0.2.{index % 250 + 1}"])
        dns_server.set(name, "MX", [f"10 mail{index}.multi-example.com."])
    dns_server.set(SHARED, "A", ["198.51.100.1"])

    # The monitors, their baseline (checked here once), and a digest day left unposted.
    engine = create_database_engine(postgres_schema_url)
    migrate(engine)
    store = Database(engine)
    now = datetime.now(UTC)
    for index, name in enumerate(names):
        store.monitors.add(
            team_id="T0WATCH",
            channel_id=channel_of(index),
            user_id="U0ANALYST",
            indicators=[(name, IndicatorKind.DOMAIN)],
            now=now,
        )
    for channel in (channel_of(0), channel_of(1)):
        store.monitors.add(
            team_id="T0WATCH",
            channel_id=channel,
            user_id="U0ANALYST",
            indicators=[(SHARED, IndicatorKind.DOMAIN)],
            now=now,
        )
    dns = MultiplexedDnsClient([HostPort(dns_server.host, dns_server.port)], timeout=10)
    async_store = store
    runner = Runner(
        [ResolutionsDataset(dns), DnsRecordsDataset(dns)], async_store, interval=timedelta(hours=1)
    )
    reports = await runner.run_due(limit=SUBJECTS + 10)
    assert len(reports) == SUBJECTS + 1
    # A complete baseline: a field missing from it would be "added" by the next check.
    assert not [o.observation.failures for r in reports for o in r.outcomes if o.observation.failures]
    async_store.close()
    await dns.aclose()
    seed_missed_digest(engine, now)

    # A zone change for one subject per channel, and the shared one (two channels).
    changed = [name_of(i) for i in range(CHANNELS)]
    for name in changed:
        dns_server.set(name, "A", ["203.0.113.77"])
    dns_server.set(SHARED, "A", ["198.51.100.1", "203.0.113.78"])
    everyone = [*names, SHARED]
    before = counts(dns_server, everyone)

    # Three processes, all up before any check is due; then the whole cycle falls due.
    bots = [
        ServeProcess(
            serve_env(
                dns_server,
                slack_api,
                postgres_schema_url,
                free_port(),
                # A claim tick every 4 s; a claimed subject's next check comes at least half
                # an interval (20 s) later, after the test has counted the questions.
                WATCHPOST_CHECK_INTERVAL="40",
                WATCHPOST_CHECK_CONCURRENCY="8",  # small claims: the three share the cycle
                # No resend of a slow answer (it would count twice): three bots and the DNS
                # server share two cores here.
                WATCHPOST_DNS_TIMEOUT="8",
            ),
            tmp_path / f"serve-{number}.log",
        )
        for number in range(3)
    ]
    try:
        await asyncio.gather(*(bot.start() for bot in bots))
        with engine.begin() as connection:
            due = connection.execute(update(Subject).values(next_check_at=datetime.now(UTC)))
            assert due.rowcount == SUBJECTS + 2

        def checked() -> int:
            return sum(
                int(match) for bot in bots for match in re.findall(r"checked (\d+) subjects", bot.log())
            )

        await slack_api.wait_for(lambda: checked() >= SUBJECTS + 2, timeout=15, what="the whole cycle")

        def all_alerts() -> Counter[tuple[str, str]] | None:
            found = alert_posts(slack_api)
            return found if sum(found.values()) >= CHANNELS + 2 else None

        alerts = await slack_api.wait_for(all_alerts, timeout=10, what="the alerts")
        await asyncio.sleep(1.5)  # a few more outbox ticks: nothing more may come
        after = counts(dns_server, everyone)
        per_process = [sum(int(m) for m in re.findall(r"checked (\d+) subjects", bot.log())) for bot in bots]
    finally:
        await asyncio.gather(*(bot.stop() for bot in bots), return_exceptions=True)
        for bot in bots:
            bot.kill()

    # Every due check done exactly once: each name was asked each question once more.
    asked = {key: after[key] - before[key] for key in after}
    assert set(asked.values()) == {1}, {k: v for k, v in asked.items() if v != 1}
    assert sum(per_process) == SUBJECTS + 2 and sum(1 for n in per_process if n) >= 2, per_process

    # Every alert posted exactly once, to each channel that monitors the changed name.
    expected = Counter({(channel_of(i), name_of(i)): 1 for i in range(CHANNELS)})
    expected[(channel_of(0), SHARED)] = expected[(channel_of(1), SHARED)] = 1
    assert alert_posts(slack_api) == expected == alerts

    # The missed digests: three processes caught up at start; one parent message a day.
    parents = [m.text for m in slack_api.posted(DIGEST_CHANNEL) if m.text.startswith("Watchpost digest")]
    days = Counter(text.split(":")[0] for text in parents)
    assert set(days.values()) == {1}, parents
    assert sum("1 change on 1 indicator" in text for text in parents) == 1, parents


def alert_posts(slack_api: FakeSlackApi) -> Counter[tuple[str, str]]:
    """(channel, indicator) of every top-level alert message posted."""
    posts: Counter[tuple[str, str]] = Counter()
    for message in slack_api.posted():
        if message.metadata and message.metadata.get("event_type") == "watchpost_alert":
            header = message.all_text()
            indicator = next((n for n in WATCHED if f"Change on {defang(n)}" in header), "?")
            posts[(message.channel, indicator)] += 1
    return posts


def seed_missed_digest(engine: Engine, now: datetime) -> None:
    """A channel monitoring since four days ago with one change two days ago, whose
    digest was never posted (the bot was down)."""
    since = now - timedelta(days=4)
    with engine.begin() as connection:
        subject_id = connection.execute(
            insert(Subject).values(
                indicator="digest.multi-example.com",
                kind="domain",
                created_at=since,
                next_check_at=now + timedelta(days=1),
                last_checked_at=now - timedelta(hours=1),
            )
        ).inserted_primary_key[0]
        connection.execute(
            insert(Monitor).values(
                subject_id=subject_id,
                team_id="T0WATCH",
                channel_id=DIGEST_CHANNEL,
                created_by="U0ANALYST",
                created_at=since,
            )
        )
        connection.execute(
            insert(ChangeRow).values(
                subject_id=subject_id,
                batch_id=uuid.uuid4().hex,
                dataset="resolutions",
                kind="added",
                field="A",
                new_value="203.0.113.99",
                source="dns",
                detected_at=now - timedelta(days=2),
                alerted=True,
            )
        )
