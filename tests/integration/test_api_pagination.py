"""Paging through /api/v1/alerts while checks keep committing new alerts, on SQLite and
PostgreSQL: every alert is seen exactly once, in id order.

The writers hold each transaction open for a random moment after its alert row got its
id (a slow commit), which is when a cursor over ids committed out of order would skip
one: a reader sees id n+1, moves its cursor past it, and n commits afterwards."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from bot.storage.db import Database
from bot.storage.models import AlertRow
from tests.fakes.api import ApiHarness
from tests.integration.test_storage import T0, add, record, resolutions

WRITERS = 4
ALERTS_PER_WRITER = 12


@pytest.fixture
def slow_commits() -> Iterator[None]:
    """Every transaction that wrote an alert waits 0-15 ms before committing."""
    rng = random.Random(7)

    def note(session: Session, _context: object) -> None:
        if any(isinstance(row, AlertRow) for row in session.new):
            session.info["alert_written"] = True

    def linger(session: Session) -> None:
        if session.info.pop("alert_written", False):
            time.sleep(rng.random() * 0.015)

    event.listen(Session, "after_flush", note)
    event.listen(Session, "before_commit", linger)
    yield
    event.remove(Session, "before_commit", linger)
    event.remove(Session, "after_flush", note)


def write_alerts(store: Database, writer: int, started: threading.Barrier) -> None:
    subject_id = add(store, f"w{writer}.evil-infra.com", channel=f"C0W{writer}")
    names = [f"a{writer}.example.net"]
    record(store, subject_id, T0, resolutions(*names))  # the baseline
    started.wait()
    for n in range(ALERTS_PER_WRITER):
        names.append(f"n{n}-{writer}.example.net")
        record(store, subject_id, T0 + timedelta(minutes=n + 1), resolutions(*names))


async def test_alert_pages_never_skip_or_repeat_while_alerts_arrive(
    api: ApiHarness, slow_commits: None
) -> None:
    store = api.services.db
    started = threading.Barrier(WRITERS + 1)
    writers = [
        asyncio.create_task(asyncio.to_thread(write_alerts, store, w, started)) for w in range(WRITERS)
    ]
    await asyncio.to_thread(started.wait)
    seen: list[int] = []
    cursor: str | None = None
    pages = 0

    async def read_page() -> list[int]:
        nonlocal cursor, pages
        params = {"limit": "3"} | ({"cursor": cursor} if cursor else {})
        status, page = await api.call("GET", "/api/v1/alerts", params=params)
        assert status == 200, page
        cursor, pages = page["next_cursor"], pages + 1
        return [alert["id"] for alert in page["alerts"]]

    while not all(w.done() for w in writers):
        seen += await read_page()
    await asyncio.gather(*writers)
    while ids := await read_page():
        seen += ids

    with store.engine.connect() as connection:
        committed = list(connection.scalars(select(AlertRow.id).order_by(AlertRow.id)))
    assert len(committed) == WRITERS * ALERTS_PER_WRITER
    assert seen == committed  # each once, in order: nothing skipped, nothing repeated
    assert pages > 5  # the reader really did page while the writers wrote
