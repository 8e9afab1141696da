"""Where the Certificate Transparency reader is in each log (table ct_log_positions).

One row per log identity; `save` is an upsert, one transaction. A restart loads these and
resumes; a log with no row is new and starts at its current tree size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from bot.storage.models import CtLogPosition


@dataclass(frozen=True)
class CtPosition:
    log: str
    position: int  # the next leaf index to read
    tree_size: int  # the log's size when last seen
    updated_at: datetime


class CtPositionStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def positions(self) -> dict[str, CtPosition]:
        with self._sessions() as session:
            rows = session.scalars(select(CtLogPosition)).all()
            return {row.log: CtPosition(row.log, row.position, row.tree_size, row.updated_at) for row in rows}

    def save(self, log: str, position: int, tree_size: int, now: datetime) -> None:
        try:
            self._save(log, position, tree_size, now)
        except IntegrityError:
            self._save(log, position, tree_size, now)  # another process inserted the row first

    def _save(self, log: str, position: int, tree_size: int, now: datetime) -> None:
        with self._sessions.begin() as session:
            row = session.get(CtLogPosition, log, with_for_update=True)
            if row is None:
                session.add(CtLogPosition(log=log, position=position, tree_size=tree_size, updated_at=now))
            else:
                row.position, row.tree_size, row.updated_at = position, tree_size, now
