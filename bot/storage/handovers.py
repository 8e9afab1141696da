"""The one web→worker handover: work the process answering Slack and the API hands to a
worker through the database, and the worker's job that runs it.

A kind of work is a `LeasedQueue` over its table (slash commands: bot/storage/
slash_commands.py; checks people asked for: bot/monitoring/store/check_requests.py), which adds
only how work is put in and read back. Every kind shares one path out: `claim` (open rows,
oldest first, SKIP LOCKED on PostgreSQL, a lease either way, so a worker that died leaves
its work to another once the lease passes), `complete` (done, with the result the asker
reads, the fields no longer needed cleared) and the expiry of rows done long enough ago,
in `complete`'s transaction. `HandoverJob` is the worker's side for any kind."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Column, Connection, Engine, Row, Table, and_, bindparam, delete, func, select, update

from bot.core.batching import cancel_after
from bot.storage.db import DatabaseRunner
from bot.storage.engine import claim_open_rows

log = logging.getLogger(__name__)


class Claimed(Protocol):
    @property
    def claim_id(self) -> int: ...


Work = TypeVar("Work", bound=Claimed)


@dataclass(frozen=True)
class QueueTable:
    """Where a kind of work waits: its table (`id`, `claimed_until`, `done_at`), the
    columns a claim reads, the order work is taken in, the column the result goes to, the
    columns cleared once done, and how long a done row is kept."""

    table: Table
    claimed: tuple[Column[Any], ...]
    oldest_first: tuple[Column[Any], ...]
    kept: timedelta
    result: str | None = None
    cleared: tuple[str, ...] = ()


class LeasedQueue(Generic[Work]):
    """A kind of handed-over work: `claim`, `complete`, `open_count` (and the expiry)."""

    def __init__(self, engine: Engine, queue: QueueTable) -> None:
        self.engine = engine
        self.queue = queue

    def claimed(self, connection: Connection, rows: list[Row[Any]]) -> list[Work]:
        """The values a claim hands the worker (read in the claim's transaction)."""
        raise NotImplementedError

    def claim(self, *, now: datetime, lease: timedelta, limit: int) -> list[Work]:
        """Up to `limit` open items, oldest first, leased to the caller until `now + lease`."""
        queue = self.queue
        with self.engine.begin() as connection:
            rows = claim_open_rows(
                connection,
                queue.table,
                list(queue.claimed),
                oldest_first=list(queue.oldest_first),
                now=now,
                lease=lease,
                limit=limit,
            )
            return self.claimed(connection, rows) if rows else []

    def complete(self, results: Mapping[int, Any], *, now: datetime) -> None:
        """These ran: done, each with its result (if the kind keeps one), the fields no
        longer needed cleared; rows done more than `kept` ago go."""
        queue, table = self.queue, self.queue.table
        with self.engine.begin() as connection:
            if results:
                values: dict[str, Any] = {"done_at": now, **{name: None for name in queue.cleared}}
                if queue.result is not None:
                    values[queue.result] = bindparam("done_result")
                connection.execute(
                    update(table).where(table.c.id == bindparam("done_id")).values(values),
                    [
                        {"done_id": item, **({"done_result": result} if queue.result is not None else {})}
                        for item, result in results.items()
                    ],
                )
            connection.execute(
                delete(table).where(and_(table.c.done_at.is_not(None), table.c.done_at < now - queue.kept))
            )

    def open_count(self) -> int:
        table = self.queue.table
        with self.engine.connect() as connection:
            return int(
                connection.execute(
                    select(func.count()).select_from(table).where(table.c.done_at.is_(None))
                ).scalar_one()
            )


class HandoverJob(Generic[Work]):
    """A worker's side of one kind: each tick (`run_due`) marks the work that ended done,
    with its result, then claims more (at most `concurrency` running at once) and starts it.
    Work stopped mid-way (shutdown) is not marked done: another worker takes it once the
    lease passes."""

    def __init__(
        self,
        queue: LeasedQueue[Work],
        db: DatabaseRunner,
        run: Callable[[Work], Awaitable[Any]],
        *,
        clock: Callable[[], datetime],
        lease: timedelta,
        concurrency: int,
        tick_seconds: float,
        what: str,
    ) -> None:
        self.queue = queue
        self.db = db
        self.run = run
        self.clock = clock
        self.lease = lease
        self.concurrency = concurrency
        self.tick_seconds = tick_seconds
        self.what = what
        self._running: dict[int, asyncio.Task[None]] = {}
        self._ended: dict[int, Any] = {}

    async def run_due(self) -> int:
        """One tick: mark the work that ended done, claim and start more (how many)."""
        await self._mark_ended()
        room = self.concurrency - len(self._running)
        if room <= 0:
            return 0
        claimed = await self.db.run(self.queue.claim, now=self.clock(), lease=self.lease, limit=room)
        for work in claimed:
            task = asyncio.create_task(self._run(work), name=f"{self.what} {work.claim_id}")
            self._running[work.claim_id] = task
        return len(claimed)

    async def _run(self, work: Work) -> None:
        try:
            result = await self.run(work)
        except Exception:  # one item's failure is logged; the others run
            log.exception("a handed-over %s failed", self.what)
            result = None
        finally:
            self._running.pop(work.claim_id, None)  # cancelled: left open for another worker
        self._ended[work.claim_id] = result

    async def _mark_ended(self) -> None:
        """The work that ended since last told, marked done (kept to tell again if that fails)."""
        if not self._ended:
            return
        ended, self._ended = self._ended, {}
        try:
            await self.db.run(self.queue.complete, ended, now=self.clock())
        except Exception:
            self._ended.update(ended)  # until told, the lease holds them
            raise

    async def drain(self, grace: float | None = 5.0) -> None:
        """On the way out: the work running gets `grace` seconds (None: as long as it takes),
        then is stopped (left open for another worker); what ended is marked done."""
        unfinished = await cancel_after(grace, list(self._running.values()))
        if unfinished:
            log.warning("%d %ss still running at shutdown were left to another worker", unfinished, self.what)
        try:
            await self._mark_ended()
        except Exception as exc:  # they may run again elsewhere
            log.warning("%d ended %ss could not be marked done (%s)", len(self._ended), self.what, exc)
