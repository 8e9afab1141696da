"""Stages `snooze` and `suppress` (pure): a snooze silences a monitor until it ends; a
value marked false positive is quiet both ways in its dataset only, and every change a
stage drops is named, value by value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.alerts.model import ActiveSuppression, AlertTarget, Silenced, SilencedChange
from bot.alerts.pipeline import AlertPolicy
from bot.core.observations import Change, ChangeKind

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=1)
CDN = "cdn-edge.example-cdn.net"


def added(dataset: str, field: str, value: str) -> Change:
    return Change(dataset, ChangeKind.ADDED, field, None, value, "test")


def removed(dataset: str, field: str, value: str) -> Change:
    return Change(dataset, ChangeKind.REMOVED, field, value, None, "test")


def target(*suppressions: ActiveSuppression, channel: str = "C1") -> AlertTarget:
    return AlertTarget(1, "T1", channel, suppressions)


def value(dataset: str, text: str, until: datetime = LATER) -> ActiveSuppression:
    return ActiveSuppression(1, "value", dataset, text, until)


def test_suppress_drops_the_value_both_ways_and_only_in_its_dataset() -> None:
    changes = [
        added("resolutions", "domain", CDN),
        removed("resolutions", "PTR", CDN),
        added("resolutions", "domain", "c2-panel.example"),
        added("certificates", "tls_san", CDN),  # another dataset: not suppressed
    ]
    suppression = value("resolutions", CDN)
    [routed] = AlertPolicy().route(changes, [target(suppression)], NOW)
    assert routed.datasets == ("certificates", "resolutions")
    assert routed.silenced == ()  # no dataset silenced whole
    # Each silenced change names the suppression that silenced it (its number, its end).
    assert routed.silenced_changes == (
        SilencedChange(changes[0], "suppress", suppression),
        SilencedChange(changes[1], "suppress", suppression),
    )


def test_suppress_covers_either_side_of_a_changed_single_value() -> None:
    change = Change("whois", ChangeKind.CHANGED, "registrar", "Parking Co", "Real Registrar", "rdap")
    [routed] = AlertPolicy().route([change], [target(value("whois", "Parking Co"))], NOW)
    assert routed.datasets == () and routed.silenced == (Silenced("whois", "suppress"),)


def test_suppress_and_snooze_end_when_they_expire() -> None:
    changes = [added("resolutions", "domain", CDN)]
    expired = value("resolutions", CDN, until=NOW)
    snoozed_until_now = ActiveSuppression(2, "snooze", None, None, NOW)
    [routed] = AlertPolicy().route(changes, [target(expired, snoozed_until_now)], NOW)
    assert routed.datasets == ("resolutions",) and routed.silenced_changes == ()


def test_snooze_silences_only_its_monitor() -> None:
    changes = [added("resolutions", "domain", "new.example"), added("whois", "registrar", "X")]
    snooze = ActiveSuppression(3, "snooze", None, None, LATER)
    quiet, loud = AlertPolicy().route(changes, [target(snooze), target(channel="C2")], NOW)
    assert quiet.datasets == () and [s.stage for s in quiet.silenced_changes] == ["snooze", "snooze"]
    assert quiet.silenced == (Silenced("resolutions", "snooze"), Silenced("whois", "snooze"))
    assert loud.datasets == ("resolutions", "whois") and loud.silenced_changes == ()


def test_changes_kept_for_history_are_not_counted_as_silenced() -> None:
    history_only = Change("resolutions", ChangeKind.ADDED, "A", None, "45.77.10.21", "dns", alert=False)
    [routed] = AlertPolicy().route(
        [history_only], [target(ActiveSuppression(3, "snooze", None, None, LATER))], NOW
    )
    assert routed.silenced_changes == ()
