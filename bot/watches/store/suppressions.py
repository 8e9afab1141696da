"""Mutes and snoozes of lookalike and keyword watches: rows of the `suppressions` table
with a `watch_id` (a monitor's have a `monitor_id`, bot/triage/store.py), so a channel's
`/monitor suppressions`, `lift` and the notice of a suppression's end cover both.

A snooze or a timed mute ends by itself; a mute "until unmuted" ends at `UNTIMED` and is
shown without an end. Storage takes and returns values: which watch a finding's alert
is silenced by is decided by the policy (bot/alerts/pipeline/), from `targets`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import Engine, Select, select
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.model import ActiveSuppression
from bot.core.errors import UserInputError
from bot.storage.models import LookalikeWatchRow, SuppressionRow
from bot.triage.model import SuppressionKind, SuppressionView, shown_end
from bot.watches.model import WatchTarget


class WatchSuppressions:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def targets(self, watch_ids: Collection[int], *, now: datetime) -> dict[int, WatchTarget]:
        """Each watch with its mutes and snoozes in force now (a watch with none: no suppressions)."""
        found: dict[int, list[ActiveSuppression]] = defaultdict(list)
        ids = sorted(set(watch_ids))
        with self._sessions() as session:
            for start in range(0, len(ids), 500):
                for row in session.scalars(
                    select(SuppressionRow)
                    .where(
                        SuppressionRow.watch_id.in_(ids[start : start + 500]),
                        SuppressionRow.lifted_at.is_(None),
                        SuppressionRow.expires_at > now,
                    )
                    .order_by(SuppressionRow.id)
                ):
                    assert row.watch_id is not None  # by the filter
                    found[row.watch_id].append(
                        ActiveSuppression(row.id, row.kind, None, None, row.expires_at)
                    )
        return {watch_id: WatchTarget(watch_id, tuple(found.get(watch_id, ()))) for watch_id in ids}

    def suppress(
        self,
        watch_ids: Sequence[int],
        *,
        kind: SuppressionKind,
        by: str,
        now: datetime,
        until: datetime,
        reason: str,
    ) -> list[SuppressionView]:
        """Mute or snooze each watch until `until`; the one of that kind in force is replaced
        (the new end wins). UserInputError if a watch is gone."""
        if kind is SuppressionKind.VALUE:
            raise ValueError("a watch is muted or snoozed, it has no values")
        with self._sessions.begin() as session:
            views = []
            for watch_id in dict.fromkeys(watch_ids):
                watch = session.get(LookalikeWatchRow, watch_id)
                if watch is None:
                    raise UserInputError("That watch is gone: nothing was changed.")
                for old in session.scalars(_in_force(now).where(SuppressionRow.watch_id == watch_id)):
                    if old.kind == kind.value:
                        old.lifted_at, old.lifted_by = now, by
                row = SuppressionRow(
                    watch_id=watch_id,
                    kind=kind.value,
                    reason=reason,
                    created_by=by,
                    created_at=now,
                    expires_at=until,
                )
                session.add(row)
                session.flush()
                views.append(_view(row, watch))
            return views

    def active(
        self, *, now: datetime, team_id: str, channel_id: str, watch_id: int | None = None
    ) -> list[SuppressionView]:
        """The channel's watch mutes and snoozes in force, soonest end first."""
        query = (
            select(SuppressionRow, LookalikeWatchRow)
            .join(LookalikeWatchRow, SuppressionRow.watch_id == LookalikeWatchRow.id)
            .where(
                SuppressionRow.lifted_at.is_(None),
                SuppressionRow.expires_at > now,
                LookalikeWatchRow.team_id == team_id,
                LookalikeWatchRow.channel_id == channel_id,
            )
            .order_by(SuppressionRow.expires_at, SuppressionRow.id)
        )
        if watch_id is not None:
            query = query.where(LookalikeWatchRow.id == watch_id)
        with self._sessions() as session:
            return [_view(row, watch) for row, watch in session.execute(query)]

    def get(self, suppression_id: int) -> SuppressionView | None:
        with self._sessions() as session:
            found = _with_watch(session, suppression_id)
            return None if found is None else _view(*found)

    def lift(self, suppression_id: int, *, by: str, now: datetime) -> SuppressionView:
        """End a watch's suppression now. UserInputError if it is not in force."""
        with self._sessions.begin() as session:
            found = _with_watch(session, suppression_id)
            if found is None or found[0].lifted_at is not None or found[0].expires_at <= now:
                raise UserInputError(f"Suppression {suppression_id} is not in force: nothing was changed.")
            row = found[0]
            row.lifted_at, row.lifted_by = now, by
            return _view(*found)


def watch_suppression_view(session: Session, suppression_id: int) -> SuppressionView | None:
    found = _with_watch(session, suppression_id)
    return None if found is None else _view(*found)


def _in_force(now: datetime) -> Select[tuple[SuppressionRow]]:
    return select(SuppressionRow).where(SuppressionRow.lifted_at.is_(None), SuppressionRow.expires_at > now)


def _with_watch(session: Session, suppression_id: int) -> tuple[SuppressionRow, LookalikeWatchRow] | None:
    found = session.execute(
        select(SuppressionRow, LookalikeWatchRow)
        .join(LookalikeWatchRow, SuppressionRow.watch_id == LookalikeWatchRow.id)
        .where(SuppressionRow.id == suppression_id)
    ).first()
    return None if found is None else (found[0], found[1])


def _view(row: SuppressionRow, watch: LookalikeWatchRow) -> SuppressionView:
    return SuppressionView(
        id=row.id,
        kind=SuppressionKind(row.kind),
        indicator=watch.term,
        team_id=watch.team_id,
        channel_id=watch.channel_id,
        monitor_owner=watch.created_by,
        dataset=None,
        value=None,
        reason=row.reason,
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=shown_end(row.expires_at),
        watch=watch.kind,
    )
