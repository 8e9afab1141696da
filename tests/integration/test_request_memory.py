"""Slack's redeliveries, remembered by every process through the database: an event id
seen by one process is dropped by another, until well after Slack's last retry."""

from __future__ import annotations

from sqlalchemy import Engine

from bot.storage.shared_limits import SharedLimits
from bot.surfaces.slack.front import SharedReplayMemory
from bot.surfaces.slack.retries import REMEMBER_SECONDS, first_delivery


async def test_an_event_served_by_one_process_is_dropped_by_another_past_five_minutes(
    migrated_engine: Engine,
) -> None:
    now = [1_800_000_000.0]

    def process() -> SharedReplayMemory:
        limits = SharedLimits(migrated_engine)
        return SharedReplayMemory(lambda seen: limits.first_sights(seen, now=now[0]))

    one, two = process(), process()
    try:
        assert await first_delivery(one, "event:Ev0SHARED1", now=now[0])
        now[0] += 1
        assert not await first_delivery(two, "event:Ev0SHARED1", now=now[0])  # Slack's first retry
        now[0] += 6 * 60  # its last, past the five minutes signatures are kept
        assert not await first_delivery(two, "event:Ev0SHARED1", now=now[0])
        assert await first_delivery(two, "event:Ev0SHARED2", now=now[0])
        now[0] += REMEMBER_SECONDS
        # Forgotten at last (a signature this old would be refused anyway).
        assert await first_delivery(one, "event:Ev0SHARED1", now=now[0])
    finally:
        one.close()
        two.close()
