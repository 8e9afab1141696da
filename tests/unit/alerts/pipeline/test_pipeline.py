"""The alert policy pipeline: check stages mark noise, channel stages decide per channel,
and what a stage silenced is named, never dropped invisibly."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.alerts.model import ActiveSuppression, AlertTarget, Silenced
from bot.alerts.pipeline import AlertPolicy
from bot.core.observations import Change, ChangeKind
from bot.triage.model import UNTIMED

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def change(dataset: str, field: str, value: str, *, alert: bool = True) -> Change:
    return Change(dataset, ChangeKind.ADDED, field, None, value, "test", alert=alert)


def target(channel: str, *muted: str) -> AlertTarget:
    """A channel's monitor with these datasets muted until unmuted."""
    mutes = tuple(ActiveSuppression(n, "mute", d, None, UNTIMED) for n, d in enumerate(muted, 1))
    return AlertTarget(monitor_id=len(channel), team_id="T1", channel_id=channel, suppressions=mutes)


def test_policy_routes_each_channel_without_its_muted_datasets() -> None:
    changes = [change("resolutions", "domain", "www.interfaxru.com"), change("whois", "registrar", "Reg")]
    routed = AlertPolicy().route(changes, [target("C1"), target("C2", "whois")], NOW)
    assert [(r.target.channel_id, r.datasets) for r in routed] == [
        ("C1", ("resolutions", "whois")),
        ("C2", ("resolutions",)),
    ]
    assert routed[0].silenced == () and routed[1].silenced == (Silenced("whois", "mute"),)


def test_policy_never_routes_changes_kept_for_history_only() -> None:
    routed = AlertPolicy().route(
        [change("resolutions", "A", "45.77.10.21", alert=False)], [target("C1")], NOW
    )
    assert routed[0].datasets == ()


def test_policy_fully_muted_channel_gets_nothing_and_says_which_stage() -> None:
    routed = AlertPolicy().route([change("services", "port", "443/tcp")], [target("C1", "services")], NOW)
    assert routed[0].datasets == () and routed[0].silenced == (Silenced("services", "mute"),)


def test_policy_same_asn_stage_only_when_asked() -> None:
    churn = [change("resolutions", "A", "45.77.10.21")]
    assert [c.alert for c in AlertPolicy.from_settings(summarise_same_asn=False).judge(churn)] == [True]
    assert [c.alert for c in AlertPolicy.from_settings(summarise_same_asn=True).judge(churn)] == [False]
