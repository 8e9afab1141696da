"""Lookalike storage on SQLite and PostgreSQL: one finding per domain and channel, one
sighting per certificate, dismissals, delivery claims in order, permutation states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from bot.alerts.store.outbox import Outbox
from bot.core.errors import UserInputError
from bot.storage.views import PendingLookalike
from bot.watches.model import Sighting, WatchKind
from bot.watches.store.lookalikes import FindingHit, LookalikeStore, PermutationState

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
REASON = {
    "watch_id": 1,
    "kind": "lookalike",
    "term": "interfax.ru",
    "rule": "permutation",
    "detail": "various",
}


def hit(
    channel: str,
    domain: str,
    serial: str,
    *,
    log: str = "log-a",
    reasons: tuple[dict[str, object], ...] = (REASON,),
) -> FindingHit:
    sighting = Sighting(log, 1, f"www.{domain}", "Loopback CA", serial, T0)
    return FindingHit("T1", channel, domain, f"www.{domain}", reasons, "ct", T0, sighting)


def test_lookalike_store_findings_sightings_and_dismissals(migrated_engine: Engine) -> None:
    store = LookalikeStore(migrated_engine)
    added = store.add_watches(
        team_id="T1",
        channel_id="C1",
        user_id="U1",
        kind=WatchKind.LOOKALIKE,
        terms=["interfax.ru", "interfax.ru"],
        now=T0,
    )
    assert added.added == ["interfax.ru"] and added.already == []
    again = store.add_watches(
        team_id="T1", channel_id="C1", user_id="U1", kind=WatchKind.LOOKALIKE, terms=["interfax.ru"], now=T0
    )
    assert again.added == [] and again.already == ["interfax.ru"]
    assert store.watch_generation() == (1, 1)
    with pytest.raises(UserInputError, match="at most 1 lookalike watches"):
        store.add_watches(
            team_id="T1",
            channel_id="C1",
            user_id="U1",
            kind=WatchKind.LOOKALIKE,
            terms=["bbc.co.uk"],
            now=T0,
            quota=1,
        )
    assert store.watch_generation() == (1, 1)

    # A precertificate and its certificate in two logs, in one batch and the next: one finding.
    report = store.record_hits(
        [hit("C1", "interfaxru.com", "0a"), hit("C1", "interfaxru.com", "0a", log="log-b")], now=T0
    )
    assert (report.findings, report.sightings) == (1, 0)
    assert store.record_hits([hit("C1", "interfaxru.com", "0a", log="log-c")], now=T0).findings == 0
    # Another channel: its own finding. Another certificate: a sighting (thread reply).
    other = {**REASON, "watch_id": 2, "kind": "keyword", "term": "interfax", "rule": "keyword"}
    report = store.record_hits(
        [hit("C2", "interfaxru.com", "0a"), hit("C1", "interfaxru.com", "0b", reasons=(REASON, other))],
        now=T0,
    )
    assert (report.findings, report.sightings) == (1, 1)
    [finding] = store.findings(channel_id="C1")
    assert finding.certificates == 2 and [r["watch_id"] for r in finding.reasons] == [1, 2]

    # Deliveries: rows of the one outbox, one per channel at a time, the alert before its
    # thread reply.
    outbox = Outbox(migrated_engine)
    first = outbox.claim(now=T0, lease=timedelta(minutes=1), limit=10)
    assert all(isinstance(d, PendingLookalike) for d in first)
    assert sorted((d.channel_id, d.sighting is None) for d in first if isinstance(d, PendingLookalike)) == [
        ("C1", True),
        ("C2", True),
    ]
    assert outbox.claim(now=T0, lease=timedelta(minutes=1), limit=10) == []  # leased
    c1 = next(d for d in first if d.channel_id == "C1")
    outbox.mark_delivered(c1.id, now=T0, message_ts="111.1")
    [reply] = [d for d in outbox.claim(now=T0, lease=timedelta(minutes=1), limit=10) if d.channel_id == "C1"]
    assert isinstance(reply, PendingLookalike) and reply.sighting is not None
    assert reply.sighting.serial == "0b" and reply.parent_ts == "111.1"

    # Dismissed: quiet in C1 (the waiting reply dropped), C2 unaffected.
    assert store.dismiss(team_id="T1", channel_id="C1", domain="interfaxru.com", user_id="U1", now=T0)
    assert not store.dismiss(team_id="T1", channel_id="C1", domain="interfaxru.com", user_id="U1", now=T0)
    report = store.record_hits([hit("C1", "interfaxru.com", "0c"), hit("C2", "interfaxru.com", "0c")], now=T0)
    assert (report.findings, report.sightings, report.dismissed) == (0, 1, 1)
    assert store.findings(channel_id="C1")[0].dismissed
    assert outbox.undelivered_count() == 2  # C2's alert (leased) and its new reply


def test_lookalike_store_permutation_states(migrated_engine: Engine) -> None:
    store = LookalikeStore(migrated_engine)
    assert store.permutation_states(["a.com"]) == {}
    store.save_permutation_states(
        [PermutationState("a.com", False, False, T0), PermutationState("b.com", True, False, T0)]
    )
    store.save_permutation_states([PermutationState("a.com", True, True, T0 + timedelta(days=1))])
    states = store.permutation_states(["a.com", "b.com", "c.com"])
    assert states["a.com"] == PermutationState("a.com", True, True, T0 + timedelta(days=1))
    assert set(states) == {"a.com", "b.com"}
