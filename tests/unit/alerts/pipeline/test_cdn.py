"""CDN churn (the "Add a policy stage" recipe's worked example): a domain moving between
one CDN provider's networks is history, not an alert; any other move alerts."""

from __future__ import annotations

import pytest

from bot.alerts.pipeline import AlertPolicy
from bot.alerts.pipeline.cdn import CdnChurnStage, provider_of_move
from bot.alerts.pipeline.view import CheckView
from bot.core.observations import Change, ChangeKind
from bot.monitoring.datasets.model import ORIGIN_ASN_FIELD


def change(field: str, new: str | None, old: str | None = None, dataset: str = "resolutions") -> Change:
    kind = ChangeKind.CHANGED if old and new else ChangeKind.ADDED if new else ChangeKind.REMOVED
    return Change(dataset, kind, field, old, new, "dns")


def view(before: set[str], now: set[str], *, known: bool = True, dataset: str = "resolutions") -> CheckView:
    return CheckView(
        dataset,
        {"asn": frozenset(before)} if before else {},
        {"asn": frozenset(now)} if now else {},
        frozenset({"asn", "A", "AAAA"} if known else {"A", "AAAA"}),
    )


MOVE = [change("A", "172.66.1.1"), change("A", None, "104.16.1.1"), change("asn", "AS209242")]
CLOUDFLARE = view({"AS13335"}, {"AS209242"})


@pytest.mark.parametrize(
    ("seen", "alerting"),
    [
        pytest.param(CLOUDFLARE, [], id="inside one provider"),
        pytest.param(view({"AS13335", "AS209242"}, {"AS209242"}), [], id="the old network confirmed gone"),
        pytest.param(
            view({"AS20473"}, {"AS209242"}), ["172.66.1.1", "104.16.1.1", "AS209242"], id="onto a CDN"
        ),
        pytest.param(
            view({"AS20940"}, {"AS209242"}), ["172.66.1.1", "104.16.1.1", "AS209242"], id="between providers"
        ),
        pytest.param(
            view({"AS13335"}, {"AS209242", "AS20473"}),
            ["172.66.1.1", "104.16.1.1", "AS209242"],
            id="partly off the CDN",
        ),
        pytest.param(view(set(), {"AS209242"}), ["172.66.1.1", "104.16.1.1", "AS209242"], id="no baseline"),
        pytest.param(
            view({"AS13335"}, {"AS209242"}, known=False),
            ["172.66.1.1", "104.16.1.1", "AS209242"],
            id="origin ASNs not all known",
        ),
        pytest.param(
            view({"AS13335"}, {"AS209242"}, dataset="whois"),
            ["172.66.1.1", "104.16.1.1", "AS209242"],
            id="another dataset",
        ),
    ],
)
def test_cdn_churn_inside_one_provider_is_not_alerted(seen: CheckView, alerting: list[str]) -> None:
    judged = CdnChurnStage().judge(MOVE, seen)
    assert [(c.field, c.value) for c in judged] == [(c.field, c.value) for c in MOVE]  # nothing dropped
    assert [c.value for c in judged if c.alert] == alerting


def test_cdn_churn_other_fields_still_alert() -> None:
    changes = [*MOVE, change("CNAME", "evil.example.net")]
    assert [c.value for c in CdnChurnStage().judge(changes, CLOUDFLARE) if c.alert] == ["evil.example.net"]


def test_cdn_churn_names_the_provider_from_the_declared_list() -> None:
    assert provider_of_move(CLOUDFLARE, CdnChurnStage().providers) == "Cloudflare"
    own = view({"AS64500"}, {"AS64501"})
    assert provider_of_move(own, {"Own CDN": frozenset({"AS64500", "AS64501"})}) == "Own CDN"
    assert provider_of_move(own, CdnChurnStage().providers) is None


def test_cdn_churn_is_in_the_pipeline_with_same_asn_and_needs_origin_asns() -> None:
    on = AlertPolicy.from_settings(summarise_same_asn=True)
    assert [stage.name for stage in on.check_stages] == ["same_asn", "cdn"]
    assert on.needs == {ORIGIN_ASN_FIELD}
    assert not any(c.alert for c in on.judge(MOVE, CLOUDFLARE))
    off = AlertPolicy.from_settings(summarise_same_asn=False)
    assert off.needs == frozenset() and all(c.alert for c in off.judge(MOVE, CLOUDFLARE))
