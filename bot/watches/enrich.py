"""What is known at once about a lookalike, for its alert: where it resolves and its MX
(the bot's DNS client), and registrar and creation date (the `whois` dataset, when
configured). Bounded in time; a lookup that fails is shown as unknown, never an error."""

from __future__ import annotations

import asyncio
import logging

from bot.core.observations import IndicatorKind, Outcome
from bot.monitoring.datasets.base import Dataset
from bot.monitoring.dns import DnsAnswer, DnsClient
from bot.watches.model import DomainFacts

log = logging.getLogger(__name__)


class DomainFactsLookup:
    def __init__(self, dns: DnsClient, whois: Dataset | None = None, *, timeout: float = 10.0) -> None:
        self.dns = dns
        self.whois = whois
        self.timeout = timeout

    async def facts(self, domain: str) -> DomainFacts:
        async def records(rdtype: str) -> DnsAnswer | None:
            try:
                return await asyncio.wait_for(self.dns.query(domain, rdtype), self.timeout)
            except TimeoutError:
                return None

        a, aaaa, mx = await asyncio.gather(records("A"), records("AAAA"), records("MX"))
        addresses = None
        if a is not None and aaaa is not None and Outcome.ERROR not in (a.outcome, aaaa.outcome):
            addresses = (*a.records, *aaaa.records)
        mail = mx.records if mx is not None and mx.outcome is not Outcome.ERROR else None
        registrar = created = None
        if self.whois is not None:
            try:
                observation = await asyncio.wait_for(
                    self.whois.collect(domain, IndicatorKind.DOMAIN), self.timeout
                )
            except Exception as exc:  # an enrichment, never a reason not to alert
                log.info("whois of lookalike %s: %s", domain, exc.__class__.__name__)
            else:
                values = {fact.field: fact.value for fact in observation.facts}
                registrar, created = values.get("registrar"), values.get("creation_date")
        return DomainFacts(addresses, mail, registrar, created)
