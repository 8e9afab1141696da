"""Logging: a scheduled job skipped because its last run is still going says nothing
(every job runs one at a time by design); every other scheduler warning still shows."""

from __future__ import annotations

import asyncio
import logging

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.core.logs import configure_logging


async def test_a_skipped_overlapping_run_is_not_logged_but_other_warnings_are(
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("INFO", [])
    root.addHandler(caplog.handler)  # configure_logging replaced the root's handlers
    try:
        messages = await _scheduler_warnings(caplog)
    finally:
        root.handlers[:], root.level = handlers, level
    assert not [m for m in messages if "maximum number of running instances" in m]
    assert "Run time of job was missed by 0:00:02" in messages


async def _scheduler_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    release = asyncio.Event()

    async def slow() -> None:
        await release.wait()

    scheduler = AsyncIOScheduler()
    scheduler.add_job(slow, "interval", seconds=0.05, max_instances=1, coalesce=True)
    with caplog.at_level(logging.WARNING, logger="apscheduler.scheduler"):
        scheduler.start()
        try:
            await asyncio.sleep(0.4)  # several ticks while the first run is still going
        finally:
            release.set()
            scheduler.shutdown(wait=False)
        logging.getLogger("apscheduler.scheduler").warning("Run time of job was missed by 0:00:02")
    return [record.getMessage() for record in caplog.records]
