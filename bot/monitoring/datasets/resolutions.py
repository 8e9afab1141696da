"""The `resolutions` dataset: what a domain resolves to, and which domains resolve to an IP.

Domain: live A, AAAA and CNAME ("A", "AAAA", "CNAME", "status") plus passive DNS history
("pdns:A", "pdns:AAAA", "pdns:CNAME"), and, when an origin-ASN lookup is given, the
origin ASNs of its live addresses ("asn"). IP: live PTR ("PTR") plus the names passive
DNS saw resolving to it ("domain").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import dns.exception

from bot.core.errors import SourceError
from bot.core.observations import Fact, IndicatorKind, Observation, Outcome, SourceFailure, SourceRead
from bot.monitoring.datasets.base import PassiveDnsRecord, PassiveDnsSource
from bot.monitoring.datasets.model import ORIGIN_ASN_FIELD as ASN_FIELD
from bot.monitoring.datasets.model import RESOLUTIONS
from bot.monitoring.dns import (
    SOURCE,
    STATUS_FIELD,
    DnsAnswer,
    DnsClient,
    canonical_ip,
    lookup_name,
    normalise_name,
    reverse_name,
)

log = logging.getLogger(__name__)

LIVE_TYPES = ("A", "AAAA", "CNAME")
PASSIVE_PREFIX = "pdns:"
PASSIVE_FIELDS = frozenset(PASSIVE_PREFIX + rrtype for rrtype in LIVE_TYPES)
PTR_FIELD = "PTR"
DOMAIN_FIELD = "domain"
ASN_SOURCE = "asn"
OriginAsn = Callable[[str], Awaitable[str | None]]
# Passive rows that say "this name resolved to that address".
_ADDRESS_TYPES = frozenset({"A", "AAAA", "CNAME"})


@dataclass(frozen=True)
class _PassiveResult:
    source: str
    records: tuple[PassiveDnsRecord, ...] = ()
    error: str | None = None


DESCRIPTOR = RESOLUTIONS


class ResolutionsDataset:
    name = DESCRIPTOR.name

    def __init__(
        self, dns: DnsClient, passive: Sequence[PassiveDnsSource] = (), *, origin_asn: OriginAsn | None = None
    ) -> None:
        self._dns = dns
        self._passive = tuple(passive)
        self._origin_asn = origin_asn

    def applies_to(self, kind: IndicatorKind) -> bool:
        return kind in (IndicatorKind.DOMAIN, IndicatorKind.IP)

    async def collect(self, indicator: str, kind: IndicatorKind) -> Observation:
        if kind is IndicatorKind.IP:
            return await self._collect_ip(indicator)
        return await self._collect_domain(indicator)

    async def _collect_domain(self, indicator: str) -> Observation:
        domain = _name_or_none(indicator) or indicator.strip().lower()
        if self._passive:
            live, passive = await asyncio.gather(
                lookup_name(self._dns, domain, LIVE_TYPES),
                self._lookup_all_passive(domain, IndicatorKind.DOMAIN),
            )
        else:  # live DNS only: no tasks to gather
            live, passive = await lookup_name(self._dns, domain, LIVE_TYPES), []
        facts = set(live.facts)
        known = set(live.known_fields)
        failures = list(live.failures)
        reads = list(live.reads)
        for result in passive:
            found = [f for r in result.records if (f := _domain_fact(domain, r, result.source)) is not None]
            facts.update(found)
            if result.error is None:
                reads.append(SourceRead.of(result.source, PASSIVE_FIELDS, found))
        failures.extend(_passive_failures(passive, PASSIVE_FIELDS))
        if self._origin_asn is not None:
            await self._add_origin_asns(facts, known, failures, reads)
        return self._observation(facts, known, failures, reads)

    async def _add_origin_asns(
        self, facts: set[Fact], known: set[str], failures: list[SourceFailure], reads: list[SourceRead]
    ) -> None:
        """The origin ASNs of the live addresses, known only when every address and both
        address lookups answered (an unknown address could hold another ASN)."""
        assert self._origin_asn is not None
        addresses = sorted(f.value for f in facts if f.field in ("A", "AAAA"))
        results = await asyncio.gather(*(self._origin_asn(ip) for ip in addresses), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        origins = {Fact(ASN_FIELD, r, ASN_SOURCE) for r in results if isinstance(r, str)}
        facts.update(origins)
        if errors:
            message = errors[0].message if isinstance(errors[0], SourceError) else type(errors[0]).__name__
            failures.append(SourceFailure(ASN_SOURCE, f"origin ASN: {message}", frozenset({ASN_FIELD})))
        elif {"A", "AAAA"} <= known:
            known.add(ASN_FIELD)
            reads.append(SourceRead.of(ASN_SOURCE, {ASN_FIELD}, origins))

    async def _collect_ip(self, indicator: str) -> Observation:
        ip = canonical_ip(indicator) or indicator.strip()
        pointer = reverse_name(ip)
        ptr, passive = await asyncio.gather(
            self._dns.query(pointer, "PTR") if pointer else _not_an_ip(ip),
            self._lookup_all_passive(ip, IndicatorKind.IP),
        )
        facts = {Fact(PTR_FIELD, record, SOURCE) for record in ptr.records}
        known: set[str] = set()
        failures: list[SourceFailure] = []
        reads: list[SourceRead] = []
        if ptr.outcome is Outcome.ERROR:
            failures.append(
                SourceFailure(
                    SOURCE, f"{PTR_FIELD}: {ptr.error}", frozenset({PTR_FIELD}), distrusted=ptr.distrusted
                )
            )
        else:
            known.add(PTR_FIELD)
            reads.append(SourceRead.of(SOURCE, {PTR_FIELD}, facts))
        for result in passive:
            found = [f for r in result.records if (f := _ip_fact(ip, r, result.source)) is not None]
            facts.update(found)
            if result.error is None:
                reads.append(SourceRead.of(result.source, {DOMAIN_FIELD}, found))
        failures.extend(_passive_failures(passive, frozenset({DOMAIN_FIELD})))
        return self._observation(facts, known, failures, reads)

    def _observation(
        self, facts: set[Fact], known: set[str], failures: list[SourceFailure], reads: list[SourceRead]
    ) -> Observation:
        """Each source's read is its own: a lame reverse zone or a distrusted resolver
        costs the PTR, never what passive DNS said (and the reverse)."""
        return Observation(
            self.name,
            frozenset(facts),
            frozenset(known),
            tuple(failures),
            single_valued=frozenset({STATUS_FIELD}),
            reads=tuple(reads),
        )

    async def _lookup_all_passive(self, indicator: str, kind: IndicatorKind) -> list[_PassiveResult]:
        lookups = (self._lookup_passive(source, indicator, kind) for source in self._passive)
        return await asyncio.gather(*lookups)

    async def _lookup_passive(
        self, source: PassiveDnsSource, indicator: str, kind: IndicatorKind
    ) -> _PassiveResult:
        try:
            records = await source.lookup(indicator, kind)
        except SourceError as exc:
            return _PassiveResult(source.name, error=exc.message)
        except Exception as exc:
            # A bug in one source must not cost the live lookups and the other sources.
            log.exception("passive DNS source %s failed on %s", source.name, indicator)
            return _PassiveResult(source.name, error=f"unexpected error ({exc.__class__.__name__})")
        return _PassiveResult(source.name, tuple(records))


def _passive_failures(results: Sequence[_PassiveResult], fields: frozenset[str]) -> list[SourceFailure]:
    """The failures of passive sources. Passive fields are never `known`: passive DNS is
    history, cut at a page or row limit, so a row missing from one answer says nothing
    about absence. Their facts are add-only, and a failed source only costs freshness."""
    return [SourceFailure(r.source, r.error, fields) for r in results if r.error is not None]


def _domain_fact(domain: str, record: PassiveDnsRecord, source: str) -> Fact | None:
    """A passive row about `domain` itself, as a "pdns:<type>" fact."""
    rrtype = record.rrtype.upper()
    if rrtype not in _ADDRESS_TYPES or _name_or_none(record.rrname) != domain:
        return None
    value = canonical_ip(record.rdata) if rrtype in ("A", "AAAA") else _name_or_none(record.rdata)
    return Fact(PASSIVE_PREFIX + rrtype, value, source) if value else None


def _ip_fact(ip: str, record: PassiveDnsRecord, source: str) -> Fact | None:
    """A passive row saying some name resolved to `ip`, as a "domain" fact."""
    if record.rrtype.upper() not in _ADDRESS_TYPES or canonical_ip(record.rdata) != ip:
        return None
    name = _name_or_none(record.rrname)
    return Fact(DOMAIN_FIELD, name, source) if name else None


def _name_or_none(text: str) -> str | None:
    try:
        name = normalise_name(text.strip())
    except dns.exception.DNSException:
        return None
    return None if name == "." else name


async def _not_an_ip(text: str) -> DnsAnswer:
    return DnsAnswer(Outcome.ERROR, error=f"not an IP address: {text!r}")
