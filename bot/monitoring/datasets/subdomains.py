"""Subdomains: new names under a domain, from the CT logs (crt.sh)."""

from __future__ import annotations

from bot.core.errors import SourceError
from bot.core.observations import Fact, IndicatorKind, Observation, SourceFailure, SourceRead
from bot.monitoring.datasets.model import SUBDOMAINS
from bot.monitoring.sources.crtsh import SOURCE as CRTSH
from bot.monitoring.sources.crtsh import CrtShClient
from bot.monitoring.sources.passive_dns import normalise_name

FIELD = "subdomain"
DESCRIPTOR = SUBDOMAINS


class SubdomainsDataset:
    """One fact per name strictly under the domain; "*.a.example.com" counts as "a.example.com"."""

    name = DESCRIPTOR.name

    def __init__(self, crtsh: CrtShClient) -> None:
        self._crtsh = crtsh

    def applies_to(self, kind: IndicatorKind) -> bool:
        return kind is IndicatorKind.DOMAIN

    async def collect(self, indicator: str, kind: IndicatorKind) -> Observation:
        if kind is not IndicatorKind.DOMAIN:
            return Observation.error(self.name, CRTSH, "subdomains apply to domains only")
        try:
            result = await self._crtsh.certificates(indicator)
        except SourceError as exc:
            failure = SourceFailure(exc.source, exc.message, frozenset({FIELD}))
            return Observation(self.name, frozenset(), frozenset(), (failure,))
        suffix = "." + normalise_name(indicator)
        facts = frozenset(Fact(FIELD, name, CRTSH) for name in result.names if name.endswith(suffix))
        # Names come from CT history that drops expired certificates: add-only.
        return Observation(self.name, facts, frozenset(), reads=(SourceRead.of(CRTSH, {FIELD}, facts),))
