"""What the fault and hostile-input suites found, each fixed and pinned here on its own:
signatures checked before Bolt, the outbox recording a delivery the database missed,
sources bounded by their timeout even when queued, WHOIS parsing bounded on hostile
replies, values cut before storage, secrets in URLs masked, the new settings."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot.alerts.delivery.outbox import OutboxWorker
from bot.alerts.store.outbox import Outbox
from bot.config import Settings
from bot.core.errors import ConfigError, IndicatorError, SourceError
from bot.core.indicators import parse_indicators
from bot.core.logs import SecretScrubber
from bot.core.observations import MAX_VALUE_CHARS, Fact, Observation, bounded
from bot.monitoring.scheduler import _logged
from bot.monitoring.sources.http import SourceHttpClient
from bot.monitoring.sources.whois import MAX_PARSED_LINE, WhoisClient, parse_whois
from bot.storage.db import Database
from bot.storage.engine import create_database_engine
from bot.surfaces.slack.signatures import SlackSignatureVerifier, Verdict
from tests.fakes.clock import FakeClock
from tests.fakes.http_sources import FakeHttpSources
from tests.fakes.transport import RecordingTransport
from tests.fakes.whois_server import FakeWhoisServer, Mode, registry_text
from tests.integration.test_outbox_slack import one_alert

SECRET = "8f14e45fceea167a5a36dedd4bea2543"


def signed(body: bytes, stamp: str, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


def test_signature_verifier_accepts_a_fresh_request_once() -> None:
    now = [1_800_000_000.0]
    verifier = SlackSignatureVerifier(SECRET, clock=lambda: now[0])
    body = b"command=%2Fmonitor&text=evil.com"
    headers = signed(body, "1800000000")
    assert verifier.verify(body, headers) is Verdict.VALID
    assert verifier.verify(body, headers) is Verdict.REPLAYED
    assert verifier.verify(body + b"x", headers) is Verdict.INVALID
    assert verifier.verify(body, signed(body, "1800000000", "another-secret")) is Verdict.INVALID
    for stamp in ("1799999699", "1800000301", "", "-1800000000", "1.8e9", "１８００000000", "9" * 13):
        assert verifier.verify(body, signed(body, stamp)) is Verdict.INVALID, stamp
    assert verifier.verify(body, {}) is Verdict.INVALID
    # Five minutes on the request is stale, and the next valid one makes room: memory
    # holds five minutes of signatures, no more.
    now[0] += 301
    assert verifier.verify(body, headers) is Verdict.INVALID
    assert verifier.verify(body, signed(body, "1800000301")) is Verdict.VALID
    assert list(verifier._seen.values()) == [1800000301]
    assert SlackSignatureVerifier("").verify(body, signed(body, "1800000301", "")) is Verdict.INVALID


def test_settings_for_admins_quota_rate_and_source_timeout() -> None:
    settings = Settings.from_env(
        {
            "WATCHPOST_ADMINS": "U0ADMIN, W0GRID",
            "WATCHPOST_CHANNEL_QUOTA": "250",
            "WATCHPOST_COMMAND_RATE": "0",
            "WATCHPOST_SOURCE_TIMEOUT": "2.5",
        }
    )
    assert settings.admins == frozenset({"U0ADMIN", "W0GRID"})
    assert (settings.channel_quota, settings.command_rate, settings.source_timeout) == (250, 0, 2.5)
    defaults = Settings.from_env({})
    assert (defaults.admins, defaults.channel_quota, defaults.command_rate) == (frozenset(), 1000, 30)
    assert defaults.source_timeout is None
    for env, named in (
        ({"WATCHPOST_ADMINS": "@alice"}, "WATCHPOST_ADMINS"),
        ({"WATCHPOST_CHANNEL_QUOTA": "0"}, "WATCHPOST_CHANNEL_QUOTA"),
        ({"WATCHPOST_COMMAND_RATE": "-1"}, "WATCHPOST_COMMAND_RATE"),
        ({"WATCHPOST_SOURCE_TIMEOUT": "soon"}, "WATCHPOST_SOURCE_TIMEOUT"),
        ({"WATCHPOST_SOURCE_TIMEOUT": "0"}, "WATCHPOST_SOURCE_TIMEOUT"),
    ):
        with pytest.raises(ConfigError, match=named):
            Settings.from_env(env)


def test_a_password_in_a_url_is_a_secret(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://watchpost:db-pass-31f8@db:5432/watchpost",
            "WATCHPOST_CIRCL_URL": "https://analyst:circl-pass-7d0c@www.circl.lu/pdns/query/",
        }
    )
    shown = settings.describe()
    assert shown["database_url"] == "postgresql://watchpost:********@db:5432/watchpost"
    assert "circl-pass-7d0c" not in shown["circl_url"]
    assert {"db-pass-31f8", "circl-pass-7d0c"} <= set(settings.secrets())
    scrubber = SecretScrubber(settings.secrets())
    record = logging.LogRecord(
        "x", logging.ERROR, "", 0, "connect to %s failed", (settings.database_url,), None
    )
    scrubber.filter(record)
    assert "db-pass-31f8" not in record.getMessage()


def test_long_values_are_cut_before_storage() -> None:
    long = "x" * (MAX_VALUE_CHARS * 3)
    observation = Observation(
        "dns_records", frozenset({Fact("TXT", long), Fact("TXT", "short")}), frozenset({"TXT"})
    )
    cut = bounded(observation)
    assert {len(f.value) for f in cut.facts} == {MAX_VALUE_CHARS, 5}
    assert bounded(cut) is cut


def test_whois_parsing_is_bounded_on_hostile_replies() -> None:
    hostile = registry_text("victim.com").replace("Evil Registrar, LLC", "R" * 100_000)
    hostile += "".join(f"Remark: {'x' * 5000}\r\n" for _ in range(500))
    started = time.perf_counter()
    facts = parse_whois("victim.com", hostile)
    assert time.perf_counter() - started < 2  # unbounded: minutes, on the event loop
    registrar = next(f.value for f in facts if f.field == "registrar")
    assert registrar.startswith("RRR") and len(registrar) < MAX_PARSED_LINE


def test_a_huge_paste_is_refused_before_it_is_parsed() -> None:
    text = " ".join(f"host{n}.evil-paste.com" for n in range(100_000))
    started = time.perf_counter()
    with pytest.raises(IndicatorError, match="at most 50 indicators per command, and 100,000"):
        parse_indicators(text)
    assert time.perf_counter() - started < 1


async def test_queued_http_requests_fail_at_the_timeout_not_behind_the_hung_ones(
    http_sources: FakeHttpSources,
) -> None:
    http_sources.inject("internetdb", "hang")
    client = SourceHttpClient("internetdb", timeout=0.3, concurrency=1)
    try:
        started = time.monotonic()
        results = await asyncio.gather(
            *(client.get(http_sources.url("internetdb") + f"98.126.38.{n}") for n in range(1, 5)),
            return_exceptions=True,
        )
        assert all(isinstance(r, SourceError) and "no answer within 0.3s" in r.message for r in results)
        assert time.monotonic() - started < 0.9  # not 4 x 0.3 s in a queue
    finally:
        await client.close()


async def test_queued_whois_queries_fail_at_the_timeout_not_behind_the_hung_ones() -> None:
    server = FakeWhoisServer({}, default=registry_text("victim.com")).start()
    server.mode = Mode.HANG
    client = WhoisClient(server.address, timeout=0.3, concurrency=1)
    try:
        started = time.monotonic()
        results = await asyncio.gather(
            *(client.lookup(f"victim{n}.com") for n in range(4)), return_exceptions=True
        )
        assert all(isinstance(r, SourceError) and "within 0.3s" in r.message for r in results)
        assert time.monotonic() - started < 0.9
    finally:
        server.stop()


class OutboxRecordOnceFails(Outbox):
    """The database refuses the first record of a delivery (locked, or gone for a moment)."""

    failures = 1

    def mark_delivered(self, alert_id: int, **kwargs: object) -> None:  # type: ignore[override]
        if self.failures:
            self.failures -= 1
            raise OperationalError("UPDATE outbox", {}, Exception("database is locked"))
        super().mark_delivered(alert_id, **kwargs)  # type: ignore[arg-type]


@pytest_asyncio.fixture
async def flaky_store(store: Database) -> AsyncIterator[tuple[Database, Database]]:
    flaky = Database(store.engine)
    flaky.outbox = OutboxRecordOnceFails(store.engine)
    yield flaky, flaky
    flaky.close()


async def test_a_delivery_the_database_missed_is_recorded_not_resent(
    flaky_store: tuple[Database, Database],
) -> None:
    store, async_store = flaky_store
    clock = FakeClock()
    one_alert(store, clock)
    transport = RecordingTransport()
    worker = OutboxWorker(async_store, transport, clock=clock, lease=timedelta(seconds=60))
    await worker.deliver_due()
    assert len(transport.posts) == 1 and store.outbox.undelivered_count() == 1
    clock.advance(seconds=1)
    await worker.deliver_due()  # the next tick records it first: no lease wait, no second post
    assert len(transport.posts) == 1 and store.outbox.undelivered_count() == 0
    clock.advance(minutes=5)
    await worker.deliver_due()
    assert len(transport.posts) == 1


async def test_a_database_outage_is_one_line_a_job_not_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    async def job() -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused\nmore detail"))

    with caplog.at_level(logging.WARNING):
        await _logged(job)()
    [record] = caplog.records
    assert "database unavailable (connection refused)" in record.getMessage() and record.exc_info is None


def test_sqlite_busy_timeout_comes_from_the_url(tmp_path: object) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path}/busy.db?timeout=0.25")
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 250
    finally:
        engine.dispose()
    with pytest.raises(ConfigError, match="timeout"):
        create_database_engine("sqlite:///x.db?timeout=soon")
