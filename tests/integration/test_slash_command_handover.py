"""Slash commands handed from the web process to a worker through the database (SQLite and
PostgreSQL): stored once per signature whichever process got it, claimed by one worker at
a time, run, and forgotten (the response_url first)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError

from bot.storage.db import Database
from bot.storage.models import SlashCommandRow
from bot.storage.slash_commands import KEY_KEPT, HandedOverCommand, SlashCommandQueue
from bot.surfaces.slack.handover import CommandHandover, handed_over_command_job
from tests.fakes.clock import FakeClock

LEASE = timedelta(minutes=5)


def fields(n: int) -> dict[str, Any]:
    return {"command": "/monitor", "text": f"host{n}.example", "response_url": f"https://hooks.test/{n}"}


def rows(engine: Engine) -> list[SlashCommandRow]:
    with engine.connect() as connection:
        return list(connection.execute(select(SlashCommandRow)).all())  # type: ignore[arg-type]


def test_a_signature_is_stored_once_whichever_process_hands_it_over(migrated_engine: Engine) -> None:
    clock = FakeClock()
    one, two = SlashCommandQueue(migrated_engine), SlashCommandQueue(migrated_engine)
    stored = one.hand_over(
        [HandedOverCommand("v0=a", fields(1)), HandedOverCommand("v0=b", fields(2))], now=clock()
    )
    assert stored == {"v0=a", "v0=b"}
    # Another web process got a replay of v0=a, and the same new request twice in a burst.
    again = two.hand_over(
        [
            HandedOverCommand("v0=a", fields(9)),
            HandedOverCommand("v0=c", fields(3)),
            HandedOverCommand("v0=c", fields(4)),
        ],
        now=clock(),
    )
    assert again == {"v0=c"}
    claimed = one.claim(now=clock(), lease=LEASE, limit=10)
    assert [c.fields["text"] for c in claimed] == ["host1.example", "host2.example", "host3.example"]


def test_a_claimed_command_is_not_claimed_again_until_its_lease_passes(migrated_engine: Engine) -> None:
    clock = FakeClock()
    queue = SlashCommandQueue(migrated_engine)
    queue.hand_over([HandedOverCommand(f"v0={n}", fields(n)) for n in range(3)], now=clock())
    first = queue.claim(now=clock(), lease=LEASE, limit=2)
    second = queue.claim(now=clock(), lease=LEASE, limit=5)
    assert len(first) == 2 and len(second) == 1
    assert {c.command_id for c in first}.isdisjoint(c.command_id for c in second)
    assert queue.claim(now=clock(), lease=LEASE, limit=5) == []
    queue.finish([first[0].command_id], now=clock())
    # The worker holding the others died: past the lease another takes them; the done one stays done.
    clock.advance(seconds=LEASE.total_seconds() + 1)
    retaken = queue.claim(now=clock(), lease=LEASE, limit=5)
    assert sorted(c.command_id for c in retaken) == sorted([first[1].command_id, second[0].command_id])


def test_a_finished_command_keeps_its_key_for_replays_and_nothing_else(migrated_engine: Engine) -> None:
    clock = FakeClock()
    queue = SlashCommandQueue(migrated_engine)
    queue.hand_over([HandedOverCommand("v0=done", fields(1))], now=clock())
    [claimed] = queue.claim(now=clock(), lease=LEASE, limit=5)
    queue.finish([claimed.command_id], now=clock())
    [row] = rows(migrated_engine)
    assert row.fields is None and row.done_at is not None  # the response_url is gone
    assert queue.hand_over([HandedOverCommand("v0=done", fields(1))], now=clock()) == set()
    assert queue.open_count() == 0
    # Once no replay could pass the signature check, the key goes too.
    clock.advance(seconds=KEY_KEPT.total_seconds() + 1)
    queue.finish([], now=clock())
    assert rows(migrated_engine) == []


async def test_a_burst_is_handed_over_in_one_statement_and_run_by_a_worker(migrated_engine: Engine) -> None:
    clock = FakeClock()
    queue = SlashCommandQueue(migrated_engine)
    statements: list[int] = []

    class CountingQueue(SlashCommandQueue):
        def hand_over(self, commands: Any, *, now: Any) -> set[str]:
            statements.append(len(commands))
            return super().hand_over(commands, now=now)

    handover = CommandHandover(CountingQueue(migrated_engine), clock=clock)
    ran_here: list[str] = []

    async def run_here(body: dict[str, Any]) -> None:
        ran_here.append(body["text"])

    database = Database(migrated_engine)
    ran: list[str] = []
    release = asyncio.Event()

    async def run(body: dict[str, Any]) -> None:
        await release.wait()
        ran.append(body["text"])
        if body["text"] == "host3.example":
            raise RuntimeError("this command's own failure")

    job = handed_over_command_job(queue, database, run, clock=clock, concurrency=4)
    try:
        await asyncio.gather(*(handover.give(f"v0={n}", fields(n), run_here) for n in range(6)))
        await handover.give("v0=2", fields(2), run_here)  # a replay: dropped, not run here
        assert statements == [6, 1] and ran_here == []
        assert await job.run_due() == 4  # no more at once than its concurrency
        assert await job.run_due() == 0
        release.set()
        for _ in range(50):
            if len(ran) == 4:
                break
            await asyncio.sleep(0.01)
        assert await job.run_due() == 2  # the ended four are marked done, two more start
        for _ in range(50):
            if len(ran) == 6:
                break
            await asyncio.sleep(0.01)
        await job.drain()
        assert sorted(ran) == sorted(f"host{n}.example" for n in range(6))
        assert queue.open_count() == 0  # the failed one included: it ran, its reply said so
    finally:
        handover.close()
        database.close()


async def test_a_command_the_database_will_not_take_runs_where_it_was_answered(
    migrated_engine: Engine,
) -> None:
    class UnreachableQueue(SlashCommandQueue):
        def hand_over(self, commands: Any, *, now: Any) -> set[str]:
            raise OperationalError("INSERT", {}, Exception("connection refused"))

    handover = CommandHandover(UnreachableQueue(migrated_engine), clock=FakeClock())
    ran_here: list[str] = []

    async def run_here(body: dict[str, Any]) -> None:
        ran_here.append(body["text"])

    try:
        await handover.give("v0=x", fields(1), run_here)
        assert ran_here == ["host1.example"]
    finally:
        handover.close()


async def test_a_command_stopped_at_shutdown_is_left_for_another_worker(migrated_engine: Engine) -> None:
    clock = FakeClock()
    queue = SlashCommandQueue(migrated_engine)
    queue.hand_over([HandedOverCommand("v0=slow", fields(1))], now=clock())
    database = Database(migrated_engine)

    async def never_ends(body: dict[str, Any]) -> None:
        await asyncio.Event().wait()

    job = handed_over_command_job(queue, database, never_ends, clock=clock)
    try:
        assert await job.run_due() == 1
        await job.drain(grace=0.05)
        assert queue.open_count() == 1
        clock.advance(seconds=LEASE.total_seconds() + 1)
        assert [c.fields["text"] for c in queue.claim(now=clock(), lease=LEASE, limit=5)] == ["host1.example"]
    finally:
        database.close()
