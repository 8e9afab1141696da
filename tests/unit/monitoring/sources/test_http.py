"""The token bucket every rate-limited HTTP source passes."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.errors import SourceError
from bot.monitoring.sources.http import TokenBucket
from tests.fakes.http_sources import FakeClock


async def test_token_bucket_lets_a_burst_through_then_fails_fast() -> None:
    clock = FakeClock()
    bucket = TokenBucket(per_second=4 / 60, capacity=4, max_wait=0, clock=clock, sleep=clock.sleep)
    for _ in range(4):
        await bucket.acquire("virustotal")
    with pytest.raises(SourceError) as caught:
        await bucket.acquire("virustotal")
    assert caught.value.message.startswith("quota")
    assert "next slot in 15s" in caught.value.message
    clock.advance(15)
    await bucket.acquire("virustotal")
    assert clock.sleeps == []


async def test_token_bucket_queues_callers_in_order_within_max_wait() -> None:
    clock = FakeClock()
    bucket = TokenBucket(per_second=4 / 60, capacity=1, max_wait=40, clock=clock, sleep=clock.sleep)
    await bucket.acquire("vt")
    # Reserve three slots without letting time pass: 15 s, 30 s, then 45 s > max_wait.
    assert bucket._reserve("vt") == pytest.approx(15)
    assert bucket._reserve("vt") == pytest.approx(30)
    with pytest.raises(SourceError):
        bucket._reserve("vt")


async def test_token_bucket_gives_back_the_slot_of_a_cancelled_waiter() -> None:
    clock = FakeClock()
    bucket = TokenBucket(per_second=1.0, capacity=1, max_wait=5, clock=clock)  # asyncio.sleep
    await bucket.acquire("vt")
    waiter = asyncio.create_task(bucket.acquire("vt"))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert bucket._reserve("vt") == pytest.approx(1.0)  # not 2.0: the cancelled slot came back
