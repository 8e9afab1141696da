"""Services: open ports, hostnames, CPEs, tags and vulns of an IP (Shodan InternetDB)."""

from __future__ import annotations

from bot.core.errors import SourceError
from bot.core.observations import Fact, IndicatorKind, Observation, SourceFailure, SourceRead
from bot.monitoring.datasets.model import SERVICES_DATASET
from bot.monitoring.sources.internetdb import SOURCE as INTERNETDB
from bot.monitoring.sources.internetdb import InternetDbClient

DESCRIPTOR = SERVICES_DATASET
FIELDS = frozenset(DESCRIPTOR.fields)


class ServicesDataset:
    """IPs only. InternetDB's "no information" is not "every port closed": it keeps the last state."""

    name = DESCRIPTOR.name

    def __init__(self, client: InternetDbClient) -> None:
        self._client = client

    def applies_to(self, kind: IndicatorKind) -> bool:
        return kind is IndicatorKind.IP

    async def collect(self, indicator: str, kind: IndicatorKind) -> Observation:
        if kind is not IndicatorKind.IP:
            return self._failure("services apply to IPs only")
        try:
            host = await self._client.host(indicator)
        except SourceError as exc:
            return self._failure(exc.message, exc.source)
        if host is None:
            return self._failure("no information available")
        facts = {Fact("port", str(port), INTERNETDB) for port in host.ports}
        facts.update(Fact("hostname", value, INTERNETDB) for value in host.hostnames)
        facts.update(Fact("cpe", value, INTERNETDB) for value in host.cpes)
        facts.update(Fact("tag", value, INTERNETDB) for value in host.tags)
        facts.update(Fact("vuln", value, INTERNETDB) for value in host.vulns)
        return Observation(
            self.name, frozenset(facts), FIELDS, reads=(SourceRead.of(INTERNETDB, FIELDS, facts),)
        )

    def _failure(self, message: str, source: str = INTERNETDB) -> Observation:
        return Observation(self.name, frozenset(), frozenset(), (SourceFailure(source, message, FIELDS),))
