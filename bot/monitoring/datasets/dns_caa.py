"""The `dns_caa` dataset: which certificate authorities may issue for a domain (CAA records,
RFC 8659). A name with no CAA records of its own is governed by its closest parent's, so the
lookup climbs towards the registered domain (`login.evil.example` → `evil.example`) and
stops at the first name that has some. A new `issue` value is a CA the owner just allowed:
often the step before a certificate for a phishing page."""

from __future__ import annotations

from bot.core.indicators import registered_domain
from bot.core.observations import Fact, IndicatorKind, Observation, Outcome, SourceFailure, SourceRead
from bot.monitoring.datasets.model import DNS_CAA
from bot.monitoring.dns import SOURCE, DnsClient

DESCRIPTOR = DNS_CAA
FIELD = "CAA"


class DnsCaaDataset:
    """Domains only. Known (so a removed value is reported) whenever every lookup answered."""

    name = DESCRIPTOR.name

    def __init__(self, dns: DnsClient) -> None:
        self._dns = dns

    def applies_to(self, kind: IndicatorKind) -> bool:
        return kind is IndicatorKind.DOMAIN

    async def collect(self, indicator: str, kind: IndicatorKind) -> Observation:
        if kind is not IndicatorKind.DOMAIN:
            return Observation(self.name, frozenset(), frozenset())
        facts: frozenset[Fact] = frozenset()
        for owner in climb(indicator.strip().rstrip(".").lower()):
            answer = await self._dns.query(owner, FIELD)
            if answer.outcome is Outcome.ERROR:
                message = f"{FIELD} of {owner}: {answer.error}"
                failure = SourceFailure(SOURCE, message, frozenset({FIELD}), distrusted=answer.distrusted)
                return Observation(self.name, frozenset(), frozenset(), (failure,))
            if answer.records:
                facts = frozenset(Fact(FIELD, record, SOURCE) for record in answer.records)
                break
        read = SourceRead.of(SOURCE, {FIELD}, facts)
        return Observation(self.name, facts, frozenset({FIELD}), reads=(read,))


def climb(name: str) -> list[str]:
    """`name`, then each parent down to its registered domain (never a public suffix)."""
    top = registered_domain(name)
    names = [name]
    while names[-1] != top and "." in names[-1] and names[-1].endswith("." + top):
        names.append(names[-1].split(".", 1)[1])
    return names
