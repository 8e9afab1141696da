"""Where the follower keeps each log's position: the database (CtPositionStore through the
thread-pool seam) or, for benchmarks and one-off runs, memory."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from bot.storage.db import DatabaseRunner
from bot.watches.ct.store import CtPosition, CtPositionStore


class PositionBook(Protocol):
    async def load(self) -> Mapping[str, CtPosition]: ...

    async def save(self, log: str, position: int, tree_size: int, now: datetime) -> None: ...


class StoredPositions:
    def __init__(self, database: DatabaseRunner, store: CtPositionStore) -> None:
        self._database = database
        self._store = store

    async def load(self) -> Mapping[str, CtPosition]:
        return await self._database.run(self._store.positions)

    async def save(self, log: str, position: int, tree_size: int, now: datetime) -> None:
        await self._database.run(self._store.save, log, position, tree_size, now)


class MemoryPositions:
    def __init__(self) -> None:
        self.positions: dict[str, CtPosition] = {}

    async def load(self) -> Mapping[str, CtPosition]:
        return dict(self.positions)

    async def save(self, log: str, position: int, tree_size: int, now: datetime) -> None:
        self.positions[log] = CtPosition(log, position, tree_size, now)
