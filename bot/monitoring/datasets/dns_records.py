"""The `dns_records` dataset: NS, MX, TXT and SOA (who runs the zone, not its serial) of a domain."""

from __future__ import annotations

from bot.core.observations import IndicatorKind, Observation
from bot.monitoring.datasets.model import DNS_RECORDS
from bot.monitoring.dns import STATUS_FIELD, DnsClient, lookup_name

RECORD_TYPES = ("NS", "MX", "TXT", "SOA")


DESCRIPTOR = DNS_RECORDS


class DnsRecordsDataset:
    name = DESCRIPTOR.name

    def __init__(self, dns: DnsClient) -> None:
        self._dns = dns

    def applies_to(self, kind: IndicatorKind) -> bool:
        return kind is IndicatorKind.DOMAIN

    async def collect(self, indicator: str, kind: IndicatorKind) -> Observation:
        if kind is not IndicatorKind.DOMAIN:
            return Observation(self.name, frozenset(), frozenset())
        live = await lookup_name(self._dns, indicator.strip().rstrip(".").lower(), RECORD_TYPES)
        return Observation(
            self.name,
            live.facts,
            live.known_fields,
            live.failures,
            single_valued=frozenset({"SOA", STATUS_FIELD}),
            reads=live.reads,
        )
