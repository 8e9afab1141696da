"""Checks a person asked for, handed from the process that answers Slack to a worker: one
kind of the one handover (bot/storage/handovers.py).

`request` writes a row; a worker `claim`s open rows, runs the check first, before routine
ones, and `complete`s the row with a summary the asker reads back (`result`, `results`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Engine, Row, Table, insert, select

from bot.core.observations import IndicatorKind
from bot.storage.handovers import LeasedQueue, QueueTable
from bot.storage.models import CheckRequestRow, Subject
from bot.storage.views import SubjectView

_REQUESTS = cast(Table, CheckRequestRow.__table__)
_SUBJECTS = cast(Table, Subject.__table__)
KEPT = timedelta(days=1)


@dataclass(frozen=True)
class ClaimedCheck:
    request_id: int
    subject: SubjectView

    @property
    def claim_id(self) -> int:
        return self.request_id


class CheckRequestStore(LeasedQueue[ClaimedCheck]):
    def __init__(self, engine: Engine) -> None:
        super().__init__(
            engine,
            QueueTable(
                _REQUESTS,
                claimed=(_REQUESTS.c.subject_id,),
                oldest_first=(_REQUESTS.c.requested_at,),
                kept=KEPT,
                result="result",
            ),
        )

    def request(self, subject_id: int, *, now: datetime) -> int:
        with self.engine.begin() as connection:
            return int(
                connection.execute(
                    insert(_REQUESTS)
                    .values(subject_id=subject_id, requested_at=now)
                    .returning(_REQUESTS.c.id)
                ).scalar_one()
            )

    def result(self, request_id: int) -> tuple[bool, Any]:
        """(done, the summary the worker left); a request whose subject went away is done."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(_REQUESTS.c.done_at, _REQUESTS.c.result).where(_REQUESTS.c.id == request_id)
            ).first()
        if row is None:
            return True, None
        return row.done_at is not None, row.result

    def results(self, request_ids: list[int]) -> dict[int, Any]:
        """Of these requests, those done (or gone): {id: the summary the worker left}."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(_REQUESTS.c.id, _REQUESTS.c.done_at, _REQUESTS.c.result).where(
                    _REQUESTS.c.id.in_(request_ids)
                )
            ).all()
        found = {row.id: row for row in rows}
        return {
            request_id: (found[request_id].result if request_id in found else None)
            for request_id in request_ids
            if request_id not in found or found[request_id].done_at is not None
        }

    def claimed(self, connection: Connection, rows: list[Row[Any]]) -> list[ClaimedCheck]:
        """Each request with its subject (a request whose subject went away is left out)."""
        subjects = {
            row.id: SubjectView(row.id, row.indicator, IndicatorKind(row.kind), row.last_checked_at)
            for row in connection.execute(
                select(
                    _SUBJECTS.c.id, _SUBJECTS.c.indicator, _SUBJECTS.c.kind, _SUBJECTS.c.last_checked_at
                ).where(_SUBJECTS.c.id.in_([row.subject_id for row in rows]))
            )
        }
        return [ClaimedCheck(row.id, subjects[row.subject_id]) for row in rows if row.subject_id in subjects]
