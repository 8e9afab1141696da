"""Digest runs: which channel's digest of which day is posted, being posted, or skipped.

Exactly once: the row (UNIQUE team, channel, day) is inserted before anything is posted,
and only the process whose INSERT succeeded posts. A process can die after claiming, so
a claim carries a lease: one not renewed within it (every step of the post renews it) is
taken over by the next run, which resumes from the recorded progress (parent message
ts, thread steps done, email sent) instead of starting again. Every update is fenced by
the claim's token, so a process that lost its claim cannot mark someone else's work.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Update, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.storage.models import DatasetState, DigestRun, Monitor, Subject

CLAIMED, RETRY, POSTED, SKIPPED, FAILED = "claimed", "retry", "posted", "skipped", "failed"
FINAL = frozenset({POSTED, SKIPPED, FAILED})


@dataclass(frozen=True)
class DigestChannel:
    team_id: str
    channel_id: str
    monitoring_since: datetime  # its oldest monitor: no digest is due before that


@dataclass(frozen=True)
class DigestClaim:
    """The right to post one digest, and how far earlier attempts got."""

    id: int
    token: str
    team_id: str
    channel_id: str
    day: date
    attempts: int
    message_ts: str | None
    steps_done: int
    emailed: bool


@dataclass(frozen=True)
class DigestRunView:
    day: date
    status: str
    message_ts: str | None
    posted_at: datetime | None
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class StaleDataset:
    indicator: str
    dataset: str
    since: datetime | None  # the last successful check
    error: str | None


@dataclass(frozen=True)
class ChannelHealth:
    """A channel's datasets that are stale now, and when each indicator was last checked."""

    stale: tuple[StaleDataset, ...]
    last_checked: tuple[tuple[str, datetime | None], ...]


class DigestStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def channels(self) -> list[DigestChannel]:
        """Every (team, channel) that monitors something."""
        with self._sessions() as session:
            rows = session.execute(
                select(Monitor.team_id, Monitor.channel_id, func.min(Monitor.created_at))
                .group_by(Monitor.team_id, Monitor.channel_id)
                .order_by(Monitor.team_id, Monitor.channel_id)
            )
            return [DigestChannel(team, channel, since) for team, channel, since in rows]

    def channel(self, team_id: str, channel_id: str) -> DigestChannel | None:
        with self._sessions() as session:
            since = session.scalar(
                select(func.min(Monitor.created_at)).where(
                    Monitor.team_id == team_id, Monitor.channel_id == channel_id
                )
            )
            return None if since is None else DigestChannel(team_id, channel_id, since)

    def runs(self, team_id: str, channel_id: str, *, since: date) -> dict[date, DigestRunView]:
        with self._sessions() as session:
            rows = session.scalars(
                select(DigestRun).where(
                    DigestRun.team_id == team_id, DigestRun.channel_id == channel_id, DigestRun.day >= since
                )
            )
            return {
                row.day: DigestRunView(
                    row.day, row.status, row.message_ts, row.posted_at, row.attempts, row.last_error
                )
                for row in rows
            }

    def claim(
        self, team_id: str, channel_id: str, day: date, now: datetime, *, lease: timedelta
    ) -> DigestClaim | None:
        """The right to post this digest, or None when someone else has it or it is done.

        First the INSERT: it fails on the unique constraint if anyone ever claimed the
        day. Then, in a transaction of its own, the take-over of a claim released for a
        retry or not renewed within `lease` (its holder died): a conditional UPDATE, so
        of two processes taking over at once only one matches the row."""
        token = uuid.uuid4().hex
        try:
            with self._sessions.begin() as session:
                session.execute(
                    insert(DigestRun).values(
                        team_id=team_id,
                        channel_id=channel_id,
                        day=day,
                        status=CLAIMED,
                        claim_token=token,
                        claimed_at=now,
                        attempts=1,
                        steps_done=0,
                    )
                )
        except IntegrityError:
            pass
        else:
            return self._load_claim(team_id, channel_id, day, token)
        with self._sessions.begin() as session:
            taken = _rows(
                session,
                update(DigestRun)
                .where(
                    DigestRun.team_id == team_id,
                    DigestRun.channel_id == channel_id,
                    DigestRun.day == day,
                    or_(
                        DigestRun.status == RETRY,
                        (DigestRun.status == CLAIMED) & (DigestRun.claimed_at < now - lease),
                    ),
                )
                .values(status=CLAIMED, claim_token=token, claimed_at=now, attempts=DigestRun.attempts + 1)
                .execution_options(synchronize_session=False),
            )
            if taken != 1:
                return None
        return self._load_claim(team_id, channel_id, day, token)

    def _load_claim(self, team_id: str, channel_id: str, day: date, token: str) -> DigestClaim | None:
        with self._sessions() as session:
            row = session.scalar(
                select(DigestRun).where(
                    DigestRun.team_id == team_id,
                    DigestRun.channel_id == channel_id,
                    DigestRun.day == day,
                    DigestRun.claim_token == token,
                )
            )
            if row is None:
                return None
            return DigestClaim(
                id=row.id,
                token=token,
                team_id=team_id,
                channel_id=channel_id,
                day=day,
                attempts=row.attempts,
                message_ts=row.message_ts,
                steps_done=row.steps_done,
                emailed=row.emailed_at is not None,
            )

    def record_progress(
        self,
        claim: DigestClaim,
        now: datetime,
        *,
        message_ts: str | None = None,
        steps_done: int | None = None,
        emailed: bool = False,
    ) -> bool:
        """Record a finished step and renew the lease; False when the claim was lost."""
        values: dict[str, object] = {"claimed_at": now}
        if message_ts is not None:
            values["message_ts"] = message_ts
        if steps_done is not None:
            values["steps_done"] = steps_done
        if emailed:
            values["emailed_at"] = now
        return self._fenced(claim, CLAIMED, values)

    def mark_posted(self, claim: DigestClaim, now: datetime, *, error: str | None = None) -> bool:
        """Done. `error`: a part that was given up on (the email) while the rest went out."""
        return self._fenced(claim, POSTED, {"posted_at": now, "last_error": _short(error)})

    def mark_skipped(self, claim: DigestClaim) -> bool:
        """Nothing to report that day: recorded so the day is not looked at again."""
        return self._fenced(claim, SKIPPED, {})

    def mark_failed(self, claim: DigestClaim, *, error: str) -> bool:
        """Given up (Slack refused for good, or too many attempts)."""
        return self._fenced(claim, FAILED, {"last_error": _short(error)})

    def release(self, claim: DigestClaim, *, error: str) -> bool:
        """A transient failure: the next run takes the claim over at once and resumes."""
        return self._fenced(claim, RETRY, {"last_error": _short(error)})

    def _fenced(self, claim: DigestClaim, status: str, values: dict[str, object]) -> bool:
        with self._sessions.begin() as session:
            result = _rows(
                session,
                update(DigestRun)
                .where(
                    DigestRun.id == claim.id,
                    DigestRun.claim_token == claim.token,
                    DigestRun.status == CLAIMED,
                )
                .values(status=status, **values)
                .execution_options(synchronize_session=False),
            )
            return result == 1

    def health(self, team_id: str, channel_id: str) -> ChannelHealth:
        with self._sessions() as session:
            subjects = _channel_subjects(session, team_id, channel_id)
            if not subjects:
                return ChannelHealth((), ())
            stale = [
                StaleDataset(subjects[state.subject_id][0], state.dataset, state.last_ok_at, state.last_error)
                for state in session.scalars(
                    select(DatasetState).where(
                        DatasetState.subject_id.in_(subjects), DatasetState.stale.is_(True)
                    )
                )
            ]
            return ChannelHealth(
                stale=tuple(sorted(stale, key=lambda s: (s.indicator, s.dataset))),
                last_checked=tuple(sorted(subjects.values(), key=lambda item: item[0])),
            )


def _channel_subjects(
    session: Session, team_id: str, channel_id: str
) -> dict[int, tuple[str, datetime | None]]:
    rows = session.execute(
        select(Subject.id, Subject.indicator, Subject.last_checked_at)
        .join(Monitor, Monitor.subject_id == Subject.id)
        .where(Monitor.team_id == team_id, Monitor.channel_id == channel_id)
    )
    return {subject_id: (indicator, checked) for subject_id, indicator, checked in rows}


def _rows(session: Session, statement: Update) -> int:
    """Rows an UPDATE matched."""
    result = cast(CursorResult[Any], session.execute(statement))
    return int(result.rowcount)


def _short(error: str | None) -> str | None:
    return None if error is None else error[:2000]
