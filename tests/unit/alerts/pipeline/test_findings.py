"""The finding stages of the alert policy: a lookalike or keyword match is alerted in its
channel while any watch behind it is neither muted nor snoozed there; otherwise the stage
that silenced the last watch is named, with the suppression that did it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.alerts.model import ActiveSuppression
from bot.alerts.pipeline import AlertPolicy
from bot.triage.model import UNTIMED
from bot.watches.model import FindingVerdict, WatchTarget
from bot.watches.service import route_hits
from bot.watches.store.lookalikes import FindingHit

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
MUTED = ActiveSuppression(1, "mute", None, None, UNTIMED)
MUTED_FOR_A_DAY = ActiveSuppression(2, "mute", None, None, NOW + timedelta(days=1))
MUTE_ENDED = ActiveSuppression(3, "mute", None, None, NOW)
SNOOZED = ActiveSuppression(4, "snooze", None, None, NOW + timedelta(days=7))
SNOOZED_LONGER = ActiveSuppression(5, "snooze", None, None, NOW + timedelta(days=30))


def watch(watch_id: int, *suppressions: ActiveSuppression) -> WatchTarget:
    return WatchTarget(watch_id, suppressions)


@pytest.mark.parametrize(
    ("watches", "verdict"),
    [
        ([watch(1)], FindingVerdict()),
        ([], FindingVerdict()),  # no watch known any more: said rather than lost
        ([watch(1, MUTED)], FindingVerdict("mute", MUTED)),
        ([watch(1, MUTE_ENDED)], FindingVerdict()),  # ended at NOW: over
        ([watch(1, SNOOZED)], FindingVerdict("snooze", SNOOZED)),
        ([watch(1, MUTED), watch(2)], FindingVerdict()),  # any watch left: alerted
        ([watch(1, MUTED), watch(2, SNOOZED)], FindingVerdict("snooze", SNOOZED)),
        ([watch(1, MUTED), watch(2, MUTED_FOR_A_DAY)], FindingVerdict("mute", MUTED)),
        ([watch(1, SNOOZED), watch(2, SNOOZED_LONGER)], FindingVerdict("snooze", SNOOZED_LONGER)),
        ([watch(1, MUTED_FOR_A_DAY, SNOOZED)], FindingVerdict("mute", MUTED_FOR_A_DAY)),  # mute first
    ],
)
def test_policy_route_finding(watches: list[WatchTarget], verdict: FindingVerdict) -> None:
    assert AlertPolicy().route_finding(watches, NOW) == verdict


def test_policy_route_finding_by_stages_of_its_own() -> None:
    assert AlertPolicy(finding_stages=()).route_finding([watch(1, MUTED)], NOW).alerted


def hit(channel: str, *watch_ids: int) -> FindingHit:
    reasons = tuple({"watch_id": i, "term": "interfax.ru"} for i in watch_ids)
    return FindingHit("T1", channel, "interfaxru.com", "interfaxru.com", reasons, "ct", NOW)


def test_route_hits_decides_each_channel_by_its_own_watches() -> None:
    """Two channels watch one brand (watch 1 in A, muted; 2 in B): only A's match is silenced."""
    targets = {1: watch(1, MUTED), 2: watch(2)}
    routed = route_hits([hit("A", 1), hit("B", 2), hit("A", 1, 3)], targets, AlertPolicy(), NOW)
    assert [(h.channel_id, h.silenced) for h in routed] == [("A", "mute"), ("B", None), ("A", None)]
