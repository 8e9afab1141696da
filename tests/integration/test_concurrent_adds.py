"""Adds that arrive at the same moment, as a burst of slash commands does: each one its own
database connection in its own thread, released together. None may fail, none may be
counted twice, and a channel's quota holds for all of them together."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import func, select

from bot.core.errors import UserInputError
from bot.core.observations import IndicatorKind
from bot.storage.db import Database
from bot.storage.models import Monitor, Subject
from bot.storage.views import AddedMonitor

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
R = TypeVar("R")


def all_at_once(calls: list[Callable[[], R]]) -> list[R | Exception]:
    """Run `calls` in threads released by one barrier; each one's result or exception."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], R]) -> R | Exception:
        barrier.wait()
        try:
            return call()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def adder(
    store: Database, indicator: str, channel: str, quota: int | None = None
) -> Callable[[], list[AddedMonitor]]:
    return lambda: store.monitors.add(
        team_id="T1",
        channel_id=channel,
        user_id="U1",
        indicators=[(indicator, IndicatorKind.DOMAIN)],
        now=T0,
        quota=quota,
    )


def count(store: Database, table: type, **where: str) -> int:
    with store.engine.connect() as connection:
        query = select(func.count()).select_from(table)
        for column, value in where.items():
            query = query.where(getattr(table, column) == value)
        return int(connection.scalar(query) or 0)


def test_one_new_indicator_added_in_eight_channels_at_once_is_one_subject(store: Database) -> None:
    results = all_at_once([adder(store, "evil.example.com", f"C{n}") for n in range(8)])
    assert not [r for r in results if isinstance(r, Exception)], results
    added = [a for r in results if not isinstance(r, Exception) for a in r]
    assert count(store, Subject) == 1 and count(store, Monitor) == 8
    assert sum(a.new_subject for a in added) == 1  # exactly one of them made it
    assert all(a.new_for_channel for a in added)


def test_the_same_indicator_added_twice_at_once_in_one_channel_is_one_monitor(store: Database) -> None:
    results = all_at_once([adder(store, "evil.example.com", "C1") for _ in range(6)])
    assert not [r for r in results if isinstance(r, Exception)], results
    added = [a for r in results if not isinstance(r, Exception) for a in r]
    assert count(store, Monitor) == 1
    assert sum(a.new_for_channel for a in added) == 1  # the others are told it was there


def test_a_channel_quota_holds_for_adds_that_arrive_together(store: Database) -> None:
    results = all_at_once([adder(store, f"host{n}.example.com", "C1", quota=5) for n in range(8)])
    refused = [r for r in results if isinstance(r, UserInputError)]
    assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, UserInputError)]
    assert len(refused) == 3 and "at most 5" in str(refused[0])
    assert count(store, Monitor, channel_id="C1") == 5
