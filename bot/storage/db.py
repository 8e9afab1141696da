"""The async seam: repositories are synchronous (one transaction a call); `Database.run`
calls them in a small thread pool so the event loop never waits on the database.
`Database` also holds one of each repository over its engine: `await db.run(db.monitors.add, …)`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import ParamSpec, Protocol, TypeVar

from sqlalchemy import Engine

from bot.alerts.store.alerts import AlertStore
from bot.alerts.store.outbox import Outbox
from bot.alerts.store.receivers import ReceiverQueue, ReceiverRoute
from bot.core.walls import ShareScope
from bot.digests.store import DigestStore
from bot.monitoring.store.checks import Checks
from bot.monitoring.store.history import HistoryStore
from bot.monitoring.store.infrastructure import Infrastructure
from bot.monitoring.store.monitors import Monitors
from bot.monitoring.store.resolver_verdicts import ResolverVerdictStore
from bot.triage.store import DEFAULT_FOLLOW_UP_WINDOW, DEFAULT_SHARED_HOST_NAMES, TriageStore
from bot.watches.ct.store import CtPositionStore
from bot.watches.store.lookalikes import LookalikeStore
from bot.watches.store.suppressions import WatchSuppressions

P = ParamSpec("P")
R = TypeVar("R")


class DatabaseRunner(Protocol):
    """What code off the storage layer needs of `Database`: `run`, a synchronous storage
    call in the database's thread pool (a seam: tests may pass a runner of their own)."""

    async def run(self, method: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R: ...


class Database:
    def __init__(
        self,
        engine: Engine,
        *,
        receivers: Sequence[ReceiverRoute] = (),
        threads: int = 4,
        follow_up_window: timedelta = DEFAULT_FOLLOW_UP_WINDOW,
        shared_host_names: int = DEFAULT_SHARED_HOST_NAMES,
        share_scope: ShareScope = ShareScope.CHANNEL,
    ) -> None:
        self.engine = engine
        # Whose monitors a channel may learn of (bot/core/walls.py): every read that shows
        # a channel other subjects (alerts' shared lines, investigations) is walled by it.
        self.share_scope = share_scope
        self.monitors = Monitors(engine)
        self.checks = Checks(engine, receivers=receivers, follow_up_window=follow_up_window)
        self.triage = TriageStore(engine, shared_host_names=shared_host_names, share_scope=share_scope)
        self.outbox = Outbox(engine)
        self.receiver_queue = ReceiverQueue(engine)
        self.alerts = AlertStore(engine)
        self.history = HistoryStore(engine)
        self.digests = DigestStore(engine)
        self.infrastructure = Infrastructure(engine)
        self.lookalikes = LookalikeStore(engine)
        self.watch_suppressions = WatchSuppressions(engine)
        self.ct_positions = CtPositionStore(engine)
        self.resolver_verdicts = ResolverVerdictStore(engine)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="watchpost-db")

    async def run(self, method: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: method(*args, **kwargs))

    def close(self) -> None:
        """Wait for running calls, then release the pool's threads and the engine's connections."""
        self._pool.shutdown(wait=True)
        self.engine.dispose()
