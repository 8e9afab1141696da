"""A check stage's view of one dataset: stored values before the check, observed ones now."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.alerts.pipeline.view import CheckView
from bot.core.observations import Fact, FactState, FactStatus, Observation

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def test_check_view_reads_open_stored_facts_and_the_observation() -> None:
    stored = {
        ("asn", "AS13335"): FactState("asn", "AS13335", "asn", T0, FactStatus.REMOVING),
        ("asn", "AS1"): FactState("asn", "AS1", "asn", T0, FactStatus.CLOSED),
        ("A", "104.16.1.1"): FactState("A", "104.16.1.1", "dns", T0),
    }
    seen = Observation("resolutions", frozenset({Fact("asn", "AS209242", "asn")}), frozenset({"asn"}))
    view = CheckView.of(stored, seen)
    assert view.before == {"asn": {"AS13335"}, "A": {"104.16.1.1"}}
    assert view.now == {"asn": {"AS209242"}} and view.known_now == {"asn"}
    assert CheckView.of(None, seen).before == {}
