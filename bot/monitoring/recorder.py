"""Group commit for checks: while one batch of finished checks is being written, the
checks that finish meanwhile wait and go together in the next transaction. A check
alone is written at once; a thousand finishing together share a few transactions and
one trip to the database thread instead of a thousand."""

from __future__ import annotations

import asyncio
import logging

from bot.alerts.pipeline import AlertPolicy
from bot.monitoring.unit_of_work import record_checks
from bot.storage.db import Database
from bot.storage.views import CheckOutcome, CheckToRecord

log = logging.getLogger(__name__)


class CheckRecorder:
    def __init__(
        self, db: Database, *, policy: AlertPolicy | None = None, max_batch: int = 500, linger: float = 0.01
    ) -> None:
        self.db = db
        self.policy = policy if policy is not None else AlertPolicy()
        self.max_batch = max_batch
        # How long a small batch waits for company: a few milliseconds on one check, and a
        # cycle's checks arrive in batches of hundreds instead of dozens (fewer commits).
        self.linger = linger
        self._queue: list[tuple[CheckToRecord, asyncio.Future[list[CheckOutcome]]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, check: CheckToRecord) -> list[CheckOutcome]:
        """Write one check (in whatever batch it lands); its outcomes, or its exception."""
        future: asyncio.Future[list[CheckOutcome]] = asyncio.get_running_loop().create_future()
        self._queue.append((check, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued(), name="check recorder")
        return await future

    async def _write_queued(self) -> None:
        while self._queue:
            if len(self._queue) < self.max_batch // 2:
                await asyncio.sleep(self.linger)
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            try:
                checks = [check for check, _ in batch]
                results = await self.db.run(record_checks, self.db.checks, checks, self.policy)
            except BaseException as exc:  # the thread pool is gone (shutdown), or we are cancelled
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
                raise
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
