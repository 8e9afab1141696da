"""Limits shared by every process through the database (SQLite and PostgreSQL): a user's
command rate, and the replay memory of Slack signatures."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import Engine

from bot.storage.db import Database
from bot.storage.rate_limits import RateLimit
from bot.storage.shared_limits import SharedLimits, SharedRateLimiter
from bot.surfaces.slack.front import SharedReplayMemory
from tests.fakes.clock import FakeClock


async def test_a_users_commands_are_counted_across_processes(migrated_engine: Engine) -> None:
    clock = FakeClock()
    database = Database(migrated_engine)
    # Two processes, each with its own limiter object, on one database.
    one = SharedRateLimiter(RateLimit(3), SharedLimits(migrated_engine), database, clock=clock)
    two = SharedRateLimiter(RateLimit(3), SharedLimits(migrated_engine), database, clock=clock)
    try:
        waits = [await limiter.take("T1:U1") for limiter in (one, two, one)]
        assert waits == [0.0, 0.0, 0.0]
        assert await two.take("T1:U1") == 20.0  # a token every 20 s at 3 a minute
        assert await one.take("T1:U2") == 0.0  # another user's bucket
        clock.advance(seconds=20)
        assert await two.take("T1:U1") == 0.0
    finally:
        database.close()


def test_a_signature_is_served_once_by_any_process(migrated_engine: Engine) -> None:
    first, second = SharedLimits(migrated_engine), SharedLimits(migrated_engine)
    now = 1_800_000_000.0
    assert first.first_sight("v0=abc", int(now), now=now)
    assert not second.first_sight("v0=abc", int(now), now=now + 1)
    assert second.first_sight("v0=def", int(now), now=now + 1)
    # Past the five minutes the memory is dropped (the timestamp check refuses it anyway).
    assert first.first_sight("v0=abc", int(now + 400), now=now + timedelta(minutes=7).total_seconds())


async def test_requests_that_arrive_together_are_asked_about_in_one_statement(
    migrated_engine: Engine,
) -> None:
    limits = SharedLimits(migrated_engine)
    batches: list[int] = []

    def first_sights(seen: list[tuple[str, int]]) -> set[str]:
        batches.append(len(seen))
        return limits.first_sights(seen, now=1_800_000_000.0)

    memory = SharedReplayMemory(first_sights)
    try:
        signatures = [f"v0={n:03}" for n in range(20)] + ["v0=005"]  # one replay among them
        answers = await asyncio.gather(*(memory.first_sight(s, 1_800_000_000) for s in signatures))
        assert answers.count(False) == 1 and answers[-1] is False
        assert batches == [21]  # one round trip for the whole burst
        again = await memory.first_sight("v0=007", 1_800_000_000)  # seen by "another process"
        assert again is False and batches == [21, 1]
    finally:
        memory.close()


async def test_a_shared_permit_reserved_and_given_back_is_taken_again(migrated_engine: Engine) -> None:
    clock = FakeClock()
    database = Database(migrated_engine)
    limiter = SharedRateLimiter(RateLimit(3), SharedLimits(migrated_engine), database, clock=clock)
    try:
        assert [await limiter.take("source:vt") for _ in range(3)] == [0.0, 0.0, 0.0]
        assert await limiter.take("source:vt", within=30) == 20.0  # reserved for 20 s from now
        assert await limiter.take("source:vt", within=30) == 40.0  # past `within`: nothing taken
        await limiter.give_back("source:vt")  # the reserved one was not used
        assert await limiter.take("source:vt", within=30) == 20.0
    finally:
        database.close()
