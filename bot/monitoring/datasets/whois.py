"""The `whois` dataset: registration data of a domain (RDAP first, WHOIS where the TLD has
no RDAP service), network data of an IP (RDAP + ASN).

A domain's facts are the same fields in the same value forms from either source, so a
domain moving between RDAP and WHOIS (a registry starting RDAP, the bootstrap file being
out of reach) changes nothing: the diff compares values, never sources.
Each source speaks only for its own fields: when RDAP fails, the ASN facts still count
and the RDAP fields keep their last known state (they are left out of known_fields).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.core.errors import SourceError
from bot.core.indicators import registered_domain
from bot.core.observations import Fact, IndicatorKind, Observation, SourceFailure, SourceRead
from bot.monitoring.datasets.model import WHOIS
from bot.monitoring.sources import asn as asn_source
from bot.monitoring.sources import rdap as rdap_source
from bot.monitoring.sources import rdap_domains as rdap_domains_source
from bot.monitoring.sources import whois as whois_source
from bot.monitoring.sources.asn import CymruAsnLookup
from bot.monitoring.sources.rdap import RdapClient
from bot.monitoring.sources.rdap_domains import RdapDomainClient, RdapDomainRecord
from bot.monitoring.sources.whois import WhoisClient, WhoisRecord

log = logging.getLogger(__name__)

SINGLE_VALUED = (
    whois_source.SINGLE_VALUED_FIELDS | rdap_source.SINGLE_VALUED_FIELDS | asn_source.SINGLE_VALUED_FIELDS
)


DESCRIPTOR = WHOIS


class WhoisDataset:
    name = DESCRIPTOR.name

    def __init__(
        self,
        whois: WhoisClient,
        rdap: RdapClient | None,
        asn: CymruAsnLookup | None,
        *,
        rdap_domains: RdapDomainClient | None = None,
    ) -> None:
        self._whois = whois
        self._rdap = rdap
        self._asn = asn
        self._rdap_domains = rdap_domains

    def applies_to(self, kind: IndicatorKind) -> bool:
        return kind in (IndicatorKind.DOMAIN, IndicatorKind.IP)

    async def collect(self, indicator: str, kind: IndicatorKind) -> Observation:
        if kind is IndicatorKind.DOMAIN:
            return await self._collect_domain(indicator)
        return await self._collect_ip(indicator)

    async def _collect_domain(self, domain: str) -> Observation:
        # A subdomain has no registration record of its own: ask about its registered domain.
        source = whois_source.SOURCE
        try:
            record: WhoisRecord | RdapDomainRecord | None = None
            if self._rdap_domains is not None:
                source = rdap_domains_source.SOURCE
                record = await self._rdap_domains.lookup(registered_domain(domain))
            if record is None:  # no RDAP service for this TLD: port 43
                source = whois_source.SOURCE
                record = await self._whois.lookup(registered_domain(domain))
        except SourceError as exc:
            return self._observation([], set(), [SourceFailure(exc.source, exc.message, whois_source.FIELDS)])
        except Exception:  # collect() never raises: a bug here is a failed source, logged
            log.exception("%s lookup of %s failed unexpectedly", source, domain)
            failure = SourceFailure(source, "internal error", whois_source.FIELDS)
            return self._observation([], set(), [failure])
        failures: list[SourceFailure] = []
        if record.note is not None:
            failures.append(SourceFailure(source, record.note, record.unknown_fields))
        known = set(whois_source.FIELDS - record.unknown_fields)
        read = SourceRead.of(source, known, record.facts)
        return self._observation(list(record.facts), known, failures, (read,))

    async def _collect_ip(self, ip: str) -> Observation:
        lookups = []
        if self._rdap is not None:
            network = _attempt(self._rdap.network_facts, ip, rdap_source.SOURCE)
            lookups.append((rdap_source.FIELDS, rdap_source.SOURCE, network))
        if self._asn is not None:
            origin = _attempt(self._asn.asn_facts, ip, asn_source.SOURCE)
            lookups.append((asn_source.FIELDS, asn_source.SOURCE, origin))
        outcomes = await asyncio.gather(*(attempt for _, _, attempt in lookups))
        facts: list[Fact] = []
        known: set[str] = set()
        failures: list[SourceFailure] = []
        reads: list[SourceRead] = []
        for (fields, source, _), outcome in zip(lookups, outcomes, strict=True):
            if isinstance(outcome, SourceFailure):
                failures.append(SourceFailure(outcome.source, outcome.message, fields))
            else:
                facts.extend(outcome)
                known.update(fields)
                reads.append(SourceRead.of(source, fields, outcome))
        return self._observation(facts, known, failures, tuple(reads))

    def _observation(
        self,
        facts: list[Fact],
        known: set[str],
        failures: list[SourceFailure],
        reads: tuple[SourceRead, ...] = (),
    ) -> Observation:
        return Observation(
            dataset=self.name,
            facts=frozenset(facts),
            known_fields=frozenset(known),
            failures=tuple(failures),
            single_valued=SINGLE_VALUED,
            reads=reads,
        )


async def _attempt(
    lookup: Callable[[str], Awaitable[list[Fact]]], ip: str, source: str
) -> list[Fact] | SourceFailure:
    """Run one source; its failure becomes a SourceFailure instead of an exception."""
    try:
        return await lookup(ip)
    except SourceError as exc:
        return SourceFailure(exc.source, exc.message)
    except Exception:
        log.exception("%s lookup of %s failed unexpectedly", source, ip)
        return SourceFailure(source, "internal error")
