"""Stage `same_asn` (a check stage, on with WATCHPOST_SUMMARISE_SAME_ASN=1): a domain's
addresses moving inside the networks it already used are history, not an alert (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.alerts.pipeline.view import CheckView
from bot.config import FLAG, Setting
from bot.core.observations import Change
from bot.monitoring.datasets.model import ORIGIN_ASN_FIELD, RESOLUTIONS

ADDRESS_FIELDS = frozenset({"A", "AAAA"})


def summarise_same_asn_churn(changes: Sequence[Change]) -> list[Change]:
    """A domain's addresses moving inside the networks it already used (its set of origin
    ASNs unchanged) is kept for history and the digest but raises no alert. A new ASN is a
    change of its own and alerts, together with the addresses that came with it."""
    asn_moved = any(c.dataset == RESOLUTIONS.name and c.field == ORIGIN_ASN_FIELD for c in changes)
    if asn_moved:
        return list(changes)
    return [
        replace(c, alert=False) if c.dataset == RESOLUTIONS.name and c.field in ADDRESS_FIELDS else c
        for c in changes
    ]


class SameAsnChurnStage:
    name = "same_asn"
    needs = frozenset({ORIGIN_ASN_FIELD})

    def judge(self, changes: Sequence[Change], view: CheckView) -> list[Change]:
        return summarise_same_asn_churn(changes)


# The stage's own setting, read into `Settings.summarise_same_asn` (bot/cli.py's
# `every_setting()` gathers it; composition builds the stage when it is on).
SETTINGS = (
    Setting(
        "WATCHPOST_SUMMARISE_SAME_ASN",
        "summarise_same_asn",
        FLAG,
        "1: address churn inside known ASNs goes to the digest, not an alert",
        details=(
            "A domain's addresses moving inside the ASNs it already used go to history and the digest, "
            "not an alert (a new ASN still alerts, unless the domain only moved between one CDN "
            "provider's networks: stage `cdn`, bot/alerts/pipeline/cdn.py)."
        ),
    ),
)
