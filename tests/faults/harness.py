"""The world a fault test runs the real `watchpost serve` in, and the ledger it is judged by.

`World` starts every loopback fake (DNS, the HTTP sources, WHOIS, Slack), gives each
indicator a full set of source data, seeds monitors (one channel per indicator, so
their alerts never wait on each other), and runs the bot as a process with short
intervals and timeouts. It reads the bot's database the way an operator would: dataset
health, source failures, changes.

`AlertLedger` is the judge: every change a test makes is an expected alert (a channel
and a text it must hold). At the end each must have arrived exactly once, and no other
alert may have been posted: nothing lost, nothing doubled, no false change."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, bindparam, text

from bot.core.observations import IndicatorKind
from bot.monitoring.datasets.model import DESCRIPTORS
from bot.storage.db import Database
from bot.storage.engine import create_database_engine, migrate
from bot.storage.models import UtcDateTime
from tests.e2e.slack_bot import ServeProcess, free_port, serve_env
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.http_sources import CIRCL_PASSWORD, CIRCL_USER, FEB, JAN, FakeHttpSources, _mnemonic_row
from tests.fakes.slack_api import TEAM_ID, FakeSlackApi, SlackMessage
from tests.fakes.whois_server import FakeWhoisServer, ip_network_document, registry_text
from tests.faults.figures import Figures

T = TypeVar("T")

ALERT_EVENT = "watchpost_alert"
DNS_TIMEOUT = 2.0  # per lookup: a fault that drops queries costs a check this long
SOURCE_TIMEOUT = 1.5  # per HTTP or WHOIS request: a hang costs a check this long
# Every dataset for its kinds (bot/monitoring/datasets/model.py); for IPs, certificates come only from
# the TLS probe, which is off here.
DOMAIN_DATASETS = frozenset(d.name for d in DESCRIPTORS if IndicatorKind.DOMAIN in d.kinds)
IP_DATASETS = frozenset(d.name for d in DESCRIPTORS if IndicatorKind.IP in d.kinds) - {"certificates"}


def channel_for(indicator: str) -> str:
    """A channel id of its own for each indicator (Slack ids: upper-case letters and digits)."""
    return "C" + "".join(c for c in indicator.upper() if c.isalnum())[:20]


async def until(
    probe: Callable[[], T | None], *, timeout: float, what: str | Callable[[], str], every: float = 0.1
) -> T:
    """Poll `probe` until it returns something truthy; `what` (or what it returns) says
    what was awaited when it never does."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what if isinstance(what, str) else what()}"
            )
        await asyncio.sleep(every)


@asynccontextmanager
async def write_lock(path: Path) -> AsyncIterator[None]:
    """Another program holds SQLite's write lock (BEGIN IMMEDIATE) for the block."""
    connection = sqlite3.connect(path, timeout=10, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


@dataclass
class World:
    dns: FakeDnsServer
    http: FakeHttpSources
    whois: FakeWhoisServer
    slack: FakeSlackApi
    database_url: str
    tmp: Path
    port: int = field(default_factory=free_port)
    bot: ServeProcess | None = None
    monitors: dict[str, IndicatorKind] = field(default_factory=dict)
    _engine: Engine | None = None

    # -- the bot ----------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        env = serve_env(self.dns, self.slack, self.database_url, self.port, self.http)
        env.update(
            {
                "WATCHPOST_DNS_TIMEOUT": str(DNS_TIMEOUT),
                "WATCHPOST_SOURCE_TIMEOUT": str(SOURCE_TIMEOUT),
                "WATCHPOST_CIRCL_URL": self.http.url("circl"),
                "WATCHPOST_CIRCL_USER": CIRCL_USER,
                "WATCHPOST_CIRCL_PASSWORD": CIRCL_PASSWORD,
                "WATCHPOST_CRTSH_URL": self.http.url("crtsh"),
                "WATCHPOST_INTERNETDB_URL": self.http.url("internetdb"),
                "WATCHPOST_RDAP_URL": self.http.url("rdap"),
                "WATCHPOST_WHOIS_SERVER": str(self.whois.address),
                "WATCHPOST_COMMAND_RATE": "0",
            }
        )
        env.update(extra)
        return env

    async def start_bot(self, **extra: str) -> ServeProcess:
        self.bot = ServeProcess(self.env(**extra), self.tmp / "serve.log")
        await self.bot.start()
        return self.bot

    async def restart_bot(self) -> ServeProcess:
        assert self.bot is not None
        self.bot = ServeProcess(self.bot.env, self.bot.log_path)
        await self.bot.start()
        return self.bot

    # -- source data ------------------------------------------------------------------

    def add_domain(self, domain: str, *, address: str) -> None:
        """Everything every source knows about a healthy domain that resolves to `address`."""
        self.dns.set(domain, "A", [address])
        self.dns.set(domain, "NS", ["ns1.fault-dns.net.", "ns2.fault-dns.net."])
        self.dns.set(domain, "MX", [f"10 mail.{domain}."])
        self.dns.set(domain, "TXT", ['"v=spf1 -all"'])
        self.dns.set(domain, "SOA", [f"ns1.fault-dns.net. hostmaster.{domain}. 1 3600 600 86400 300"])
        self.whois.replies[domain] = registry_text(domain)
        self.http.mnemonic_rows[domain] = [_mnemonic_row(f"{domain}.", address, "a", JAN, FEB)]
        self.http.circl_lines[domain] = [cof_line(domain, "A", address)]
        self.http.crtsh_rows[domain] = [crtsh_row(1, domain, f"{domain}\nwww.{domain}", "01aa")]
        self.monitors[domain] = IndicatorKind.DOMAIN

    def add_ip(self, ip: str, *, name: str) -> None:
        """Everything every source knows about a healthy IP whose PTR is `name`."""
        reverse = ".".join(reversed(ip.split(".")))
        self.dns.set(f"{reverse}.in-addr.arpa", "PTR", [f"{name}."])
        self.dns.set(
            f"{reverse}.origin.asn.cymru.com", "TXT", [f'"64500 | {ip}/32 | US | arin | 2010-01-01"']
        )
        self.dns.set("AS64500.asn.cymru.com", "TXT", ['"64500 | US | arin | 2010-01-01 | FAULTNET, US"'])
        self.http.rdap_networks[ip] = ip_network_document(
            handle=f"NET-{ip.replace('.', '-')}", name="FAULT-NET", start=ip, end=ip, org="Fault Hosting"
        )
        self.http.internetdb_hosts[ip] = {
            "ip": ip,
            "ports": [22, 443],
            "cpes": [],
            "hostnames": [name],
            "tags": [],
            "vulns": [],
        }
        self.http.mnemonic_rows[ip] = [_mnemonic_row(f"{name}.", ip, "a", JAN, FEB)]
        self.http.circl_lines[ip] = [cof_line(name, "A", ip)]
        self.monitors[ip] = IndicatorKind.IP

    # -- monitors and the database ----------------------------------------------------

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_database_engine(self.database_url)
        return self._engine

    def seed_monitors(self) -> None:
        """One monitor per indicator, each in its own channel, due at once."""
        migrate(self.engine)
        store = Database(self.engine)
        for indicator, kind in self.monitors.items():
            store.monitors.add(
                team_id=TEAM_ID,
                channel_id=channel_for(indicator),
                user_id="U0ANALYST",
                indicators=[(indicator, kind)],
                now=datetime.now(UTC),
            )

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as connection:
            return list(connection.execute(text(sql), params))

    def health(self) -> dict[str, dict[str, tuple[bool, bool, str | None]]]:
        """indicator -> dataset -> (has a baseline, stale, last error)."""
        found: dict[str, dict[str, tuple[bool, bool, str | None]]] = {}
        for indicator, dataset, baseline, stale, error in self.rows(
            "SELECT s.indicator, d.dataset, d.baseline_at, d.stale, d.last_error "
            "FROM dataset_states d JOIN subjects s ON s.id = d.subject_id"
        ):
            found.setdefault(indicator, {})[dataset] = (baseline is not None, bool(stale), error)
        return found

    def all_healthy(self) -> bool:
        """Every dataset of every monitor has its baseline and is fresh."""
        health = self.health()
        for indicator, kind in self.monitors.items():
            wanted = DOMAIN_DATASETS if kind is IndicatorKind.DOMAIN else IP_DATASETS
            states = health.get(indicator, {})
            if set(states) != wanted or not all(b and not s for b, s, _ in states.values()):
                return False
        return True

    def unhealthy(self) -> dict[str, dict[str, str | None]]:
        """What is not fresh, for a failure message."""
        return {
            indicator: {
                dataset: error for dataset, (base, stale, error) in states.items() if stale or not base
            }
            for indicator, states in self.health().items()
            if any(stale or not base for base, stale, _ in states.values())
        }

    def failures(self, indicator: str, source: str, *, since: datetime) -> int:
        """Failed lookups recorded for source health since `since`."""
        query = text(
            "SELECT count(*) FROM source_failures f JOIN subjects s ON s.id = f.subject_id "
            "WHERE s.indicator = :indicator AND f.source = :source AND f.at >= :since"
        ).bindparams(bindparam("since", type_=UtcDateTime))
        with self.engine.connect() as connection:
            found = connection.execute(query, {"indicator": indicator, "source": source, "since": since})
            return int(found.scalar_one())

    def changes(self) -> Counter[str]:
        """Changes recorded per indicator."""
        return Counter(
            indicator
            for (indicator,) in self.rows(
                "SELECT s.indicator FROM changes c JOIN subjects s ON s.id = c.subject_id"
            )
        )

    def expire_leases(self) -> None:
        """Time passes: every alert lease runs out (as it would 60 s after its holder died)."""
        query = text(
            "UPDATE outbox SET claimed_until = :past WHERE delivered_at IS NULL AND claimed_until IS NOT NULL"
        ).bindparams(bindparam("past", type_=UtcDateTime))
        with self.engine.begin() as connection:
            connection.execute(query, {"past": datetime.now(UTC) - timedelta(seconds=1)})

    async def close(self) -> None:
        if self.bot is not None:
            try:
                await self.bot.stop()
            finally:
                self.bot.kill()
        if self._engine is not None:
            self._engine.dispose()


@asynccontextmanager
async def world(tmp_path: Path, database_url: str | None = None) -> AsyncIterator[World]:
    """Every fake started, on loopback, for one scenario; all stopped afterwards."""
    dns = FakeDnsServer().start()
    whois = FakeWhoisServer({}).start()
    http = FakeHttpSources()
    slack = FakeSlackApi()
    await http.start()
    await slack.start()
    built = World(dns, http, whois, slack, database_url or f"sqlite:///{tmp_path / 'faults.db'}", tmp_path)
    try:
        yield built
    finally:
        try:
            await built.close()
        finally:
            await slack.stop()
            await http.stop()
            whois.stop()
            dns.stop()
    assert slack.violations == [], "messages Slack would refuse or that ping people:\n" + "\n".join(
        slack.violations
    )


def cof_line(rrname: str, rrtype: str, rdata: str) -> str:
    return json.dumps(
        {
            "rrname": rrname,
            "rrtype": rrtype,
            "rdata": rdata,
            "time_first": 1704067200,
            "time_last": 1706745600,
        }
    )


def crtsh_row(crtsh_id: int, domain: str, names: str, serial: str) -> dict[str, Any]:
    return {
        "issuer_ca_id": 183267,
        "issuer_name": "C=US, O=Let's Encrypt, CN=R3",
        "common_name": domain,
        "name_value": names,
        "id": crtsh_id,
        "entry_timestamp": "2024-01-01T00:00:00.123",
        "not_before": "2024-01-01T00:00:00",
        "not_after": "2099-01-01T00:00:00",
        "serial_number": serial,
    }


@dataclass
class Expected:
    channel: str
    needle: str
    why: str


class AlertLedger:
    """Expected alerts against what the fake Slack received."""

    def __init__(self, slack: FakeSlackApi, figures: Figures) -> None:
        self.slack = slack
        self.figures = figures
        self.expected: list[Expected] = []

    def expect(self, channel: str, needle: str, why: str) -> None:
        self.expected.append(Expected(channel, needle, why))

    def alerts(self) -> list[SlackMessage]:
        """Every alert the bot posted: top-level ones, and follow-ups in an open alert's
        thread (a later change of a monitor whose alert is still open goes there)."""
        return [m for m in self.slack.messages if (m.metadata or {}).get("event_type") == ALERT_EVENT]

    def matching(self, expected: Expected) -> list[SlackMessage]:
        return [m for m in self.alerts() if m.channel == expected.channel and expected.needle in m.all_text()]

    def missing(self) -> list[Expected]:
        return [e for e in self.expected if not self.matching(e)]

    async def delivered(self, *, timeout: float) -> None:
        """Wait until every expected alert is in its channel."""
        await until(lambda: not self.missing(), timeout=timeout, what=lambda: f"alerts {self.missing()}")

    def settle(self, *, quiet: Iterable[str] = ()) -> None:
        """Judge: each expected alert exactly once, no other alert, no outbox row posted twice."""
        lost = [e for e in self.expected if not self.matching(e)]
        doubled = [e for e in self.expected if len(self.matching(e)) > 1]
        ids = Counter(
            json.dumps((m.metadata or {}).get("event_payload"), sort_keys=True) for m in self.alerts()
        )
        doubled_ids = [payload for payload, count in ids.items() if count > 1]
        accounted = {id(m) for e in self.expected for m in self.matching(e)}
        false = [m for m in self.alerts() if id(m) not in accounted]
        self.figures.alerts_expected += len(self.expected)
        self.figures.alerts_delivered += len(self.expected) - len(lost)
        self.figures.alerts_lost += len(lost)
        self.figures.alerts_duplicated += len(doubled) + len(doubled_ids)
        self.figures.false_alerts += len(false)
        assert not lost, f"alerts lost: {lost}"
        assert not doubled and not doubled_ids, f"alerts posted twice: {doubled} {doubled_ids}"
        assert not false, "alerts no change explains (false changes):\n" + "\n".join(
            f"{m.channel}: {m.text}" for m in false
        )
        for channel in quiet:
            assert not [m for m in self.alerts() if m.channel == channel], f"{channel} got an alert"
