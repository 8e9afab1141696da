"""Stage `cdn` (a check stage, on with WATCHPOST_SUMMARISE_SAME_ASN, after `same_asn`): a
domain behind a CDN moving between the provider's own networks (Cloudflare's AS13335 to its
AS209242) is the provider rebalancing, not the owner moving. When the domain's origin ASNs
before the check and now all belong to one provider, its address and origin-ASN changes
are kept for history and the digest but raise no alert (pure). A move onto, off or between
providers still alerts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from bot.alerts.pipeline.view import CheckView
from bot.core.observations import Change
from bot.monitoring.datasets.model import ORIGIN_ASN_FIELD, RESOLUTIONS

ADDRESS_FIELDS = frozenset({"A", "AAAA"})

# A small declared list: the origin ASNs each CDN provider announces its edge from.
PROVIDERS: Mapping[str, frozenset[str]] = {
    "Cloudflare": frozenset({"AS13335", "AS209242"}),
    "Akamai": frozenset({"AS20940", "AS16625", "AS16702", "AS21342", "AS32787", "AS35994"}),
    "Fastly": frozenset({"AS54113"}),
    "Edgio": frozenset({"AS15133", "AS22822"}),
}


def provider_of_move(view: CheckView, providers: Mapping[str, frozenset[str]]) -> str | None:
    """The provider a domain moved inside: its origin ASNs changed, and those before and
    those now (all known) are that one provider's. None otherwise."""
    if view.dataset != RESOLUTIONS.name or ORIGIN_ASN_FIELD not in view.known_now:
        return None
    before = view.before.get(ORIGIN_ASN_FIELD, frozenset())
    now = view.now.get(ORIGIN_ASN_FIELD, frozenset())
    if not before or not now or before == now:
        return None
    return next((name for name, asns in providers.items() if before | now <= asns), None)


class CdnChurnStage:
    name = "cdn"
    needs = frozenset({ORIGIN_ASN_FIELD})

    def __init__(self, providers: Mapping[str, frozenset[str]] = PROVIDERS) -> None:
        self.providers = providers

    def judge(self, changes: Sequence[Change], view: CheckView) -> list[Change]:
        if provider_of_move(view, self.providers) is None:
            return list(changes)
        quiet = ADDRESS_FIELDS | {ORIGIN_ASN_FIELD}
        return [
            replace(c, alert=False) if c.dataset == RESOLUTIONS.name and c.field in quiet else c
            for c in changes
        ]
