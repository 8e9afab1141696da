"""Quota slots shared through the database (SQLite and PostgreSQL): windows, the queue,
turns, and two real processes against one loopback source that never get more than the
quota between them."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from bot.config import QuotaLimit, Secret
from bot.core.observations import IndicatorKind
from bot.monitoring.quota import QuotaGate, SourceDeferred, lookup_context
from bot.monitoring.sources.mnemonic import MnemonicPassiveDns
from bot.monitoring.store.quotas import MANUAL, NEW, ROUTINE, Deferred, Granted, QuotaStore, window_margin
from bot.storage.db import Database
from bot.storage.models import SourceRequestRow, SourceWaitRow
from tests.fakes.http_sources import FakeHttpSources

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
FIVE_A_MINUTE = (QuotaLimit(5, 60.0),)


def test_slots_stop_at_the_quota_and_say_when_the_next_one_frees(migrated_engine: Engine) -> None:
    quotas = QuotaStore(migrated_engine)
    results = [quotas.take_slot("crtsh", FIVE_A_MINUTE, now=T0 + timedelta(seconds=i)) for i in range(7)]
    assert [isinstance(r, Granted) for r in results] == [True] * 5 + [False] * 2
    refused = results[5]
    assert isinstance(refused, Deferred) and refused.reason == "quota"
    # The first request leaves the (slightly widened) window a minute after it was sent.
    assert refused.until == T0 + timedelta(seconds=60) + window_margin(FIVE_A_MINUTE[0])
    assert isinstance(
        quotas.take_slot("crtsh", FIVE_A_MINUTE, now=refused.until + timedelta(seconds=1)), Granted
    )
    # Another source's quota is its own.
    assert isinstance(quotas.take_slot("mnemonic", FIVE_A_MINUTE, now=T0), Granted)


def test_several_limits_all_hold(migrated_engine: Engine) -> None:
    quotas = QuotaStore(migrated_engine)
    limits = (QuotaLimit(4, 60.0), QuotaLimit(6, 86400.0))
    granted = 0
    for minute in range(5):
        for second in range(6):
            at = T0 + timedelta(minutes=minute * 2, seconds=second)
            granted += isinstance(quotas.take_slot("virustotal", limits, now=at), Granted)
    assert granted == 6  # 4 in the first minute, 2 more before the day is used up


def test_a_quota_of_zero_gives_no_slot(migrated_engine: Engine) -> None:
    result = QuotaStore(migrated_engine).take_slot("crtsh", (), now=T0)
    assert isinstance(result, Deferred) and result.reason == "off"


def test_queued_lookups_come_first_and_routine_ones_wait_their_turn(migrated_engine: Engine) -> None:
    quotas = QuotaStore(migrated_engine)
    one = (QuotaLimit(1, 60.0),)
    assert isinstance(quotas.take_slot("mnemonic", one, now=T0, indicator="a.example"), Granted)
    # A new monitor's lookup finds no slot: it is queued with the time its slot frees.
    queued = quotas.take_slot(
        "mnemonic", one, now=T0 + timedelta(seconds=1), indicator="b.example", queue=True
    )
    assert isinstance(queued, Deferred) and queued.queued
    assert quotas.waits_for("b.example") == {"mnemonic": queued.until}
    # When the slot frees, a routine lookup of a known indicator does not take it from the
    # queued one; the queued one gets it.
    later = queued.until + timedelta(seconds=1)
    routine = quotas.take_slot(
        "mnemonic", one, now=later, indicator="a.example", turn_interval=timedelta(0), queue=True
    )
    assert isinstance(routine, Deferred) and not routine.queued
    assert isinstance(
        quotas.take_slot("mnemonic", one, now=later, indicator="b.example", queue=True), Granted
    )
    assert quotas.waits_for("b.example") == {}
    # A routine lookup before its turn is not even counted.
    turn = quotas.take_slot(
        "mnemonic",
        one,
        now=later + timedelta(minutes=5),
        indicator="b.example",
        turn_interval=timedelta(hours=1),
    )
    assert isinstance(turn, Deferred) and turn.reason == "turn" and turn.until == later + timedelta(hours=1)
    with migrated_engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(SourceRequestRow.__table__)).scalar() == 2


def test_a_manual_check_goes_before_new_monitors(migrated_engine: Engine) -> None:
    quotas = QuotaStore(migrated_engine)
    one = (QuotaLimit(1, 60.0),)
    quotas.take_slot("crtsh", one, now=T0)
    for i in range(3):
        quotas.take_slot("crtsh", one, now=T0, indicator=f"new{i}.example", priority=NEW, queue=True)
    manual = quotas.take_slot("crtsh", one, now=T0, indicator="asked.example", priority=MANUAL, queue=True)
    assert isinstance(manual, Deferred)
    # When the slot frees, the first new monitor to come back finds the manual check ahead
    # of it (and hears a later time); the manual check takes the slot.
    freed = manual.until
    again = quotas.take_slot("crtsh", one, now=freed, indicator="new0.example", queue=True)
    assert isinstance(again, Deferred) and again.until > freed
    assert isinstance(
        quotas.take_slot("crtsh", one, now=freed, indicator="asked.example", queue=True), Granted
    )
    with migrated_engine.connect() as connection:
        priorities = dict(
            list(connection.execute(select(SourceWaitRow.indicator, SourceWaitRow.priority)).tuples())
        )
    assert "asked.example" not in priorities  # served, so no longer queued
    assert priorities["new1.example"] == NEW < ROUTINE


def test_every_queued_lookup_is_promised_a_slot_that_is_free_when_it_comes_back(
    migrated_engine: Engine,
) -> None:
    quotas = QuotaStore(migrated_engine)
    window = timedelta(seconds=60) + window_margin(FIVE_A_MINUTE[0])
    for second in range(5):  # the window fills over five seconds
        assert isinstance(
            quotas.take_slot("crtsh", FIVE_A_MINUTE, now=T0 + timedelta(seconds=second)), Granted
        )
    asked = T0 + timedelta(seconds=10)
    promises = []
    for i in range(12):
        result = quotas.take_slot(
            "crtsh", FIVE_A_MINUTE, now=asked, indicator=f"new{i:02d}.example", priority=NEW, queue=True
        )
        assert isinstance(result, Deferred) and result.queued
        promises.append(result.until)
    # The i-th freed slot of each round: one window after the request `quota` places before.
    expected = [T0 + timedelta(seconds=i % 5) + window * (1 + i // 5) for i in range(12)]
    assert promises == expected
    # Each, back at its time, has the slot it was promised: nobody is told again.
    for i, at in enumerate(promises):
        result = quotas.take_slot("crtsh", FIVE_A_MINUTE, now=at, indicator=f"new{i:02d}.example", queue=True)
        assert isinstance(result, Granted), (i, result)
    with migrated_engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(SourceWaitRow.__table__)).scalar() == 0


def test_a_probe_takes_no_slot_and_a_lookup_that_must_wait_is_queued_by_it(migrated_engine: Engine) -> None:
    quotas = QuotaStore(migrated_engine)
    one = (QuotaLimit(1, 60.0),)
    probe = quotas.take_slot("crtsh", one, now=T0, indicator="a.example", queue=True, probe=True)
    assert probe == Granted(0)
    assert isinstance(quotas.take_slot("crtsh", one, now=T0, indicator="a.example", queue=True), Granted)
    waiting = quotas.take_slot("crtsh", one, now=T0, indicator="b.example", queue=True, probe=True)
    assert isinstance(waiting, Deferred) and waiting.queued
    assert quotas.waits_for("b.example") == {"crtsh": waiting.until}
    with migrated_engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(SourceRequestRow.__table__)).scalar() == 1


async def test_the_gate_defers_a_lookup_instead_of_sending_it(
    migrated_engine: Engine, http_sources: FakeHttpSources
) -> None:
    store = Database(migrated_engine)
    gate = QuotaGate(
        QuotaStore(migrated_engine),
        store,
        {"mnemonic": (QuotaLimit(1, 3600.0),)},
        check_interval=timedelta(hours=1),
    )
    source = MnemonicPassiveDns(http_sources.url("mnemonic"), Secret(""), gate=gate)
    try:
        with lookup_context("a.example"):
            await source.lookup("a.example", IndicatorKind.DOMAIN)
        with lookup_context("b.example") as context, pytest.raises(SourceDeferred):
            await source.lookup("b.example", IndicatorKind.DOMAIN)
        assert "mnemonic" in context.deferred and context.come_back_at == context.deferred["mnemonic"]
        assert len(http_sources.requests_for("mnemonic")) == 1
        usage = await store.run(
            QuotaStore(migrated_engine).usage, {"mnemonic": gate.limits["mnemonic"]}, now=datetime.now(UTC)
        )
        assert usage[0].requests_hour == 1 and usage[0].last_success_at is not None and usage[0].waiting == 1
    finally:
        await source.close()
        store.close()


async def test_the_gate_admits_before_a_connection_and_takes_the_slot_only_then(
    migrated_engine: Engine,
) -> None:
    store = Database(migrated_engine)
    quotas = QuotaStore(migrated_engine)
    gate = QuotaGate(quotas, store, {"crtsh": (QuotaLimit(1, 3600.0),)}, check_interval=timedelta(hours=1))
    try:
        with lookup_context("a.example"):
            await gate.admit("crtsh")  # a free slot: admitted, nothing taken yet
            usage = await store.run(quotas.usage, {"crtsh": gate.limits["crtsh"]}, now=datetime.now(UTC))
            assert usage[0].requests_hour == 0
            ticket = await gate.before("crtsh")
            await gate.after(ticket, "ok")
        with lookup_context("b.example") as context, pytest.raises(SourceDeferred):
            await gate.admit("crtsh")  # no slot: deferred and queued before any connection
        assert context.come_back_at == context.deferred["crtsh"]
        assert await store.run(quotas.waits_for, "b.example") == {"crtsh": context.come_back_at}
        usage = await store.run(quotas.usage, {"crtsh": gate.limits["crtsh"]}, now=datetime.now(UTC))
        assert usage[0].requests_hour == 1 and usage[0].waiting == 1
    finally:
        store.close()


# --- two processes, one PostgreSQL -------------------------------------------------------

CHILD = """
import asyncio, sys, time
import bot.monitoring.datasets  # noqa: F401  (the sources import the datasets package first)
from datetime import timedelta
from bot.config import QuotaLimit, Secret
from bot.core.errors import SourceError
from bot.core.observations import IndicatorKind
from bot.monitoring.quota import QuotaGate, lookup_context
from bot.monitoring.sources.mnemonic import MnemonicPassiveDns
from bot.storage.engine import create_database_engine
from bot.monitoring.store.quotas import QuotaStore
from bot.storage.db import Database

async def main(url, base, seconds, name):
    engine = create_database_engine(url)
    store = Database(engine)
    gate = QuotaGate(QuotaStore(engine), store, {"mnemonic": (QuotaLimit(10, 5.0),)},
                     check_interval=timedelta(hours=1))
    source = MnemonicPassiveDns(base, Secret(""), gate=gate, page_size=1000)
    deadline = time.monotonic() + seconds
    counter = 0
    async def worker():
        nonlocal counter
        while time.monotonic() < deadline:
            counter += 1
            with lookup_context(f"{name}-{counter}.example", returns=False):
                try:
                    await source.lookup("cnn.com", IndicatorKind.DOMAIN)
                except SourceError:
                    await asyncio.sleep(0.01)
    await asyncio.gather(*(worker() for _ in range(8)))
    await source.close()
    store.close()

asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]))
"""


async def test_two_processes_never_exceed_the_quota_together(
    postgres_schema_url: str, http_sources: FakeHttpSources, tmp_path: Path
) -> None:
    from bot.storage.engine import create_database_engine, migrate

    engine = create_database_engine(postgres_schema_url)
    migrate(engine)
    engine.dispose()
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    seconds = 12.0
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            postgres_schema_url,
            http_sources.url("mnemonic"),
            str(seconds),
            name,
            env=env,
        )
        for name in ("one", "two")
    ]
    codes = await asyncio.wait_for(asyncio.gather(*(child.wait() for child in children)), timeout=60)
    assert codes == [0, 0]
    times = sorted(request.at for request in http_sources.requests_for("mnemonic"))
    # Both processes pushed: together they wanted far more than the quota allows...
    assert len(times) >= 20
    # ...and in no five-second window did the source see more than 10 requests.
    worst = max(sum(1 for t in times if start <= t < start + 5.0) for start in times)
    assert worst <= 10
