"""The resolver check's verdicts, shared through the database (table resolver_verdicts).

The check runs in the processes that look things up (the workers); the web process, which
answers `/monitor health`, the App Home, the API and /healthz, reads what they found.
One row per resolver; `record` is an upsert, one transaction, that keeps `failing_since`
while the resolver keeps failing (any problem: a changed text is the same outage).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from bot.storage.models import ResolverVerdictRow


@dataclass(frozen=True)
class ResolverStatus:
    resolver: str  # where it is: "10.0.0.2:53", "the system resolver"
    problem: str | None  # None: it passed its last check
    checked_at: datetime
    failing_since: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


class ResolverVerdictStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def statuses(self) -> list[ResolverStatus]:
        """Every resolver's last verdict, the most recently checked first."""
        with self._sessions() as session:
            rows = session.scalars(
                select(ResolverVerdictRow).order_by(
                    ResolverVerdictRow.checked_at.desc(), ResolverVerdictRow.resolver
                )
            ).all()
            return [ResolverStatus(r.resolver, r.problem, r.checked_at, r.failing_since) for r in rows]

    def record(self, resolver: str, problem: str | None, *, now: datetime) -> ResolverStatus:
        """Store a check's verdict; the status as stored (with when the failure began)."""
        try:
            return self._record(resolver, problem, now)
        except IntegrityError:
            return self._record(resolver, problem, now)  # another process inserted the row first

    def _record(self, resolver: str, problem: str | None, now: datetime) -> ResolverStatus:
        with self._sessions.begin() as session:
            row = session.get(ResolverVerdictRow, resolver, with_for_update=True)
            if row is None:
                row = ResolverVerdictRow(resolver=resolver, checked_at=now)
                session.add(row)
            elif now < row.checked_at:
                # A slower process's older check: the newer verdict stands.
                return ResolverStatus(row.resolver, row.problem, row.checked_at, row.failing_since)
            if problem is None:
                row.failing_since = None
            elif row.problem is None or row.failing_since is None:
                row.failing_since = now
            row.problem, row.checked_at = problem, now
            return ResolverStatus(row.resolver, row.problem, row.checked_at, row.failing_since)
