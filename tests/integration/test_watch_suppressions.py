"""Mutes and snoozes of lookalike watches in the `suppressions` table, on SQLite and
PostgreSQL: beside monitors' (never mixed up with them), replaced, lifted, claimed once
when they end, gone with their watch; a silenced finding stored without a message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.core.errors import UserInputError
from bot.core.observations import IndicatorKind
from bot.storage.db import Database
from bot.storage.models import SuppressionRow
from bot.storage.views import PendingLookalike, PendingNotice
from bot.triage.model import UNTIMED, SuppressionKind
from bot.watches.model import Sighting, WatchKind
from bot.watches.store.lookalikes import FindingHit

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def watch(store: Database, channel: str, term: str = "interfax.ru") -> int:
    store.lookalikes.add_watches(
        team_id="T1", channel_id=channel, user_id="U1", kind=WatchKind.LOOKALIKE, terms=[term], now=T0
    )
    return next(w.id for w in store.lookalikes.watches(channel_id=channel) if w.term == term)


def test_watch_suppressions_beside_monitors(store: Database) -> None:
    a, b = watch(store, "CA"), watch(store, "CB")
    [snooze] = store.watch_suppressions.suppress(
        [a], kind=SuppressionKind.SNOOZE, by="U2", now=T0, until=T0 + DAY, reason="snoozed"
    )
    [mute] = store.watch_suppressions.suppress(
        [a], kind=SuppressionKind.MUTE, by="U1", now=T0, until=UNTIMED, reason="muted"
    )
    assert (snooze.indicator, snooze.channel_id, snooze.watch, snooze.monitor_owner) == (
        "interfax.ru",
        "CA",
        "lookalike",
        "U1",
    )
    assert mute.expires_at is None  # until unmuted
    targets = store.watch_suppressions.targets([a, b], now=T0)
    assert [s.kind for s in targets[a].suppressions] == ["snooze", "mute"] and targets[b].suppressions == ()
    # A new snooze replaces the one in force.
    store.watch_suppressions.suppress(
        [a], kind=SuppressionKind.SNOOZE, by="U2", now=T0, until=T0 + 7 * DAY, reason="longer"
    )
    listed = store.watch_suppressions.active(now=T0, team_id="T1", channel_id="CA")
    assert [(s.kind, s.expires_at) for s in listed] == [
        (SuppressionKind.SNOOZE, T0 + 7 * DAY),
        (SuppressionKind.MUTE, None),
    ]
    assert store.watch_suppressions.active(now=T0, team_id="T1", channel_id="CB") == []

    # A monitor's suppressions and a watch's never meet: each store sees its own.
    store.monitors.add(
        team_id="T1", channel_id="CA", user_id="U1", indicators=[("evil.com", IndicatorKind.DOMAIN)], now=T0
    )
    [monitor] = store.monitors.list(channel_id="CA")
    [monitor_snooze] = store.triage.suppress(
        monitor_id=monitor.id, kind=SuppressionKind.SNOOZE, by="U1", now=T0, until=T0 + DAY
    )
    assert [s.id for s in store.triage.active(now=T0, channel_id="CA")] == [monitor_snooze]
    assert store.watch_suppressions.get(monitor_snooze) is None
    assert store.triage.get(mute.id) is None
    with pytest.raises(UserInputError, match="not in force"):
        store.triage.lift(mute.id, by="U1", now=T0)

    # Ended by themselves: each noticed once, in one pass, as a row of the one outbox.
    later = T0 + 8 * DAY
    assert store.triage.queue_ended_notices(now=later) == 2  # the watch's and the monitor's
    assert store.triage.queue_ended_notices(now=later) == 0
    # One per channel at a time, in the order queued: the watch's, then the monitor's.
    [first] = store.outbox.claim(now=later, lease=DAY, limit=10)
    assert isinstance(first, PendingNotice) and first.suppression.watch is not None
    assert (first.suppression.kind, first.suppression.indicator) == (SuppressionKind.SNOOZE, "interfax.ru")
    store.outbox.mark_delivered(first.id, now=later, message_ts="1.1")
    [second] = store.outbox.claim(now=later, lease=DAY, limit=10)
    assert isinstance(second, PendingNotice) and second.suppression.id == monitor_snooze

    # Lifted: once.
    assert store.watch_suppressions.lift(mute.id, by="U1", now=later).id == mute.id
    with pytest.raises(UserInputError, match="not in force"):
        store.watch_suppressions.lift(mute.id, by="U1", now=later)
    assert store.watch_suppressions.targets([a], now=later)[a].suppressions == ()


def test_watch_suppressions_go_with_their_watch_and_name_one_owner(store: Database) -> None:
    a = watch(store, "CA")
    store.watch_suppressions.suppress(
        [a], kind=SuppressionKind.MUTE, by="U1", now=T0, until=UNTIMED, reason="muted"
    )
    assert store.lookalikes.remove_watches(
        team_id="T1", channel_id="CA", kind=WatchKind.LOOKALIKE, terms=["interfax.ru"]
    ) == ["interfax.ru"]
    with Session(store.engine) as session:
        assert session.scalar(select(func.count()).select_from(SuppressionRow)) == 0
    with pytest.raises(UserInputError, match="watch is gone"):
        store.watch_suppressions.suppress(
            [a], kind=SuppressionKind.SNOOZE, by="U1", now=T0, until=T0 + DAY, reason="x"
        )
    # Neither a monitor nor a watch, or both: refused by the table itself.
    with Session(store.engine) as session, pytest.raises(IntegrityError):
        session.add(SuppressionRow(kind="snooze", created_by="U1", created_at=T0, expires_at=T0 + DAY))
        session.commit()


def test_silenced_finding_stored_without_a_message_then_alerted(migrated_engine: Engine) -> None:
    store = Database(migrated_engine)
    reasons = ({"watch_id": 1, "kind": "lookalike", "term": "interfax.ru", "rule": "edit"},)

    def hit(serial: str, silenced: str | None) -> FindingHit:
        sighting = Sighting("log-a", 1, "interfaxru.com", "CA", serial, T0)
        return FindingHit(
            "T1", "C1", "interfaxru.com", "interfaxru.com", reasons, "ct", T0, sighting, silenced
        )

    lookalikes = store.lookalikes
    report = lookalikes.record_hits([hit("01", "mute")], now=T0)
    assert (report.findings, report.silenced) == (0, 1)
    assert lookalikes.record_hits([hit("02", "snooze")], now=T0).silenced == 1
    assert store.outbox.undelivered_count() == 0
    [finding] = lookalikes.findings(channel_id="C1")
    assert finding.silenced == "mute" and finding.certificates == 2
    # The same certificate again, not silenced: nothing new to say.
    assert lookalikes.record_hits([hit("02", None)], now=T0) == type(report)()
    # A new one, not silenced: the finding's alert (not a thread reply: it has none).
    report = lookalikes.record_hits([hit("03", None)], now=T0)
    assert (report.findings, report.sightings) == (1, 0)
    [pending] = store.outbox.claim(now=T0, lease=timedelta(minutes=1), limit=10)
    assert (
        isinstance(pending, PendingLookalike)
        and pending.sighting is None
        and pending.finding.silenced is None
    )
