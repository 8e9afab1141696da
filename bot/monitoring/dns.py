"""Live DNS for the DNS datasets: one query, one of four outcomes, normalised records.

`ResolverDnsClient` asks the configured nameservers (or the system resolver) through
dnspython's async stub resolver with no cache, so every check reaches the server. The
bot itself uses `MultiplexedDnsClient` (dns_mux.py): the same contract at a fraction of
the cost; this one stays as the reference the DNS tests hold both to.
Nothing here raises for a DNS failure: it is an answer whose outcome is ERROR.

The record normalisation below is what makes TTLs, record order, letter case and
trailing dots never show up as changes.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.reversename
import dns.rrset

from bot.config import HostPort
from bot.core.errors import ConfigError
from bot.core.observations import Fact, Outcome, SourceFailure, SourceRead

log = logging.getLogger(__name__)

SOURCE = "dns"
STATUS_FIELD = "status"
STATUS_EXISTS = "exists"
STATUS_NXDOMAIN = "NXDOMAIN"

# EDNS0 with the DNS Flag Day 2020 buffer size: big TXT sets fit in one UDP reply
# more often, and a reply that does not fit comes back truncated and is retried over TCP.
_EDNS_PAYLOAD = 1232


@dataclass(frozen=True)
class DnsAnswer:
    """How one query ended: normalised, sorted, de-duplicated records, or why not."""

    outcome: Outcome
    records: tuple[str, ...] = ()
    error: str | None = None
    # The resolver check does not believe the resolver: the question was never asked.
    distrusted: bool = False


class DnsClient(Protocol):
    """Live DNS. `query` never raises for a DNS failure: the answer's outcome is ERROR."""

    async def query(self, name: str, rdtype: str) -> DnsAnswer: ...


# -- normalisation (pure) ------------------------------------------------------------------


def normalise_name(name: dns.name.Name | str) -> str:
    """Lower-case, no trailing dot; IDNs stay in their punycode (xn--) form. The root is "."."""
    if isinstance(name, str):
        return _normalise_text(name)
    return name.derelativize(dns.name.root).to_text(omit_final_dot=True).lower()


@functools.lru_cache(maxsize=4096)
def _normalise_text(text: str) -> str:
    # Each check normalises its indicator's name again: parse it once.
    return normalise_name(dns.name.from_text(text))


def normalise_rdata(rdata: dns.rdata.Rdata) -> str:
    """One record as Watchpost stores and compares it."""
    rdtype = rdata.rdtype
    if rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        return str(ipaddress.ip_address(rdata.address))  # type: ignore[attr-defined]
    if rdtype in (dns.rdatatype.CNAME, dns.rdatatype.NS, dns.rdatatype.PTR, dns.rdatatype.DNAME):
        return normalise_name(rdata.target)  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.MX:
        return f"{rdata.preference} {normalise_name(rdata.exchange)}"  # type: ignore[attr-defined]
    if rdtype in (dns.rdatatype.TXT, dns.rdatatype.SPF):
        joined = b"".join(rdata.strings)  # type: ignore[attr-defined]
        return joined.decode("utf-8", errors="backslashreplace")
    if rdtype == dns.rdatatype.SOA:
        # Serial and timers change with every zone edit; who runs the zone does not.
        return f"{normalise_name(rdata.mname)} {normalise_name(rdata.rname)}"  # type: ignore[attr-defined]
    return rdata.to_text()


def normalise_record(rdtype: str, text: str) -> str:
    """`normalise_rdata` of a record in zone-file presentation format (relative names are absolute)."""
    rdata = dns.rdata.from_text(dns.rdataclass.IN, rdtype, text, origin=dns.name.root, relativize=False)
    return normalise_rdata(rdata)


def normalise_records(rdatas: Iterable[dns.rdata.Rdata]) -> tuple[str, ...]:
    """Sorted and de-duplicated: order, TTL and duplicates never matter."""
    return tuple(sorted({normalise_rdata(rdata) for rdata in rdatas}))


def reverse_name(ip: str) -> str | None:
    """The in-addr.arpa / ip6.arpa name whose PTR records name `ip`, or None if it is not an IP."""
    try:
        return normalise_name(dns.reversename.from_address(ip.strip()))
    except (dns.exception.DNSException, ValueError):
        return None


def canonical_ip(text: str) -> str | None:
    """The canonical form of an IP address, or None when `text` is not one."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


# -- the resolver-backed client ------------------------------------------------------------


class ResolverDnsClient:
    """DnsClient over dnspython's async resolver.

    `timeout` bounds one lookup in seconds, retries and the TCP fallback included; one
    attempt may take half of it, so a lost UDP packet is retried once. Without
    nameservers the system resolver's (/etc/resolv.conf) are used; ConfigError if none.
    """

    def __init__(
        self,
        nameservers: Sequence[HostPort] = (),
        *,
        timeout: float = 3.0,
        max_in_flight: int = 50,
    ) -> None:
        if nameservers:
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = [dns.nameserver.Do53Nameserver(ns.host, ns.port) for ns in nameservers]
        else:
            try:
                resolver = dns.asyncresolver.Resolver(configure=True)
            except dns.resolver.NoResolverConfiguration:
                raise ConfigError(
                    "no system resolver configured (/etc/resolv.conf): set WATCHPOST_DNS_NAMESERVERS"
                ) from None
        resolver.cache = None
        resolver.timeout = timeout / 2
        resolver.lifetime = timeout
        resolver.use_edns(0, 0, _EDNS_PAYLOAD)
        self._resolver = resolver
        self._timeout = timeout
        # Past ~50 queries in flight dnspython only uses more memory, not more speed.
        self._limit = asyncio.Semaphore(max_in_flight)

    async def query(self, name: str, rdtype: str) -> DnsAnswer:
        try:
            qname = dns.name.from_text(name)
            kind = dns.rdatatype.from_text(rdtype)
        except dns.exception.DNSException as exc:
            return DnsAnswer(Outcome.ERROR, error=f"bad query {name!r} {rdtype}: {_describe(exc)}")
        async with self._limit:
            return await self._resolve(qname, kind)

    async def reverse(self, ip: str) -> DnsAnswer:
        """PTR records of an IP address."""
        name = reverse_name(ip)
        if name is None:
            return DnsAnswer(Outcome.ERROR, error=f"not an IP address: {ip!r}")
        return await self.query(name, "PTR")

    async def _resolve(self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> DnsAnswer:
        try:
            # dnspython checks its lifetime only between attempts: backoff sleeps and the
            # TCP retry can run past it, so the hard cap is ours.
            async with asyncio.timeout(self._timeout):
                answer = await self._resolver.resolve(qname, rdtype, search=False)
        except dns.resolver.NXDOMAIN as exc:
            if exc.canonical_name != qname:
                # The name is an alias whose target does not exist: the name itself
                # exists (its CNAME is data), it just has no records of this type.
                return DnsAnswer(Outcome.NO_DATA)
            return DnsAnswer(Outcome.NXDOMAIN)
        except dns.resolver.NoAnswer:
            return DnsAnswer(Outcome.NO_DATA)
        except (TimeoutError, dns.exception.Timeout):
            return DnsAnswer(Outcome.ERROR, error=f"no answer within {self._timeout:g}s")
        except dns.resolver.NoNameservers as exc:
            return DnsAnswer(Outcome.ERROR, error=_describe_server_errors(exc.kwargs.get("errors", [])))
        except dns.exception.DNSException as exc:
            return DnsAnswer(Outcome.ERROR, error=_describe(exc))
        rrset = answer.rrset
        if rrset is None:  # not raised as NoAnswer only when asked not to
            return DnsAnswer(Outcome.NO_DATA)
        return DnsAnswer(Outcome.RECORDS, normalise_records(rrset))


def _describe(exc: BaseException) -> str:
    """A short, single-line reason: dnspython's own texts can run to whole paragraphs."""
    lines = str(exc).splitlines()
    text = lines[0] if lines else ""
    text = text if len(text) <= 120 else text[:117] + "..."
    name = exc.__class__.__name__
    return f"{name}: {text}" if text else name


def _describe_server_errors(errors: Sequence[tuple[object, ...]]) -> str:
    """E.g. "SERVFAIL from 127.0.0.1:5353" out of dnspython's per-server error list."""
    reasons: list[str] = []
    for error in errors:
        _, tcp, port, problem, response = error[:5]
        address = _address_of(error)
        where = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        if isinstance(problem, str):  # dnspython puts the rcode text here
            reason = f"{problem} from {where}"
        elif isinstance(problem, dns.message.Truncated):
            if not tcp:
                continue  # the normal step before retrying over TCP, not a failure
            reason = f"truncated reply from {where}"
        elif isinstance(problem, OSError | EOFError):
            reason = f"connection to {where} failed ({problem.__class__.__name__})"
        elif isinstance(problem, dns.exception.FormError) or response is not None:
            reason = f"malformed reply from {where}"
        else:
            reason = f"{where}: {_describe(problem) if isinstance(problem, BaseException) else problem}"
        if tcp:
            reason += " over TCP"
        if reason not in reasons:
            reasons.append(reason)
    if not reasons:
        return "no nameserver could answer"
    more = f" and {len(reasons) - 3} more" if len(reasons) > 3 else ""
    return "; ".join(reasons[:3]) + more


def _address_of(error: tuple[object, ...]) -> str:
    """The nameserver address: dnspython renders servers as "Do53:1.2.3.4@53"."""
    server = str(error[0])
    server = server.split(":", 1)[1] if server.startswith("Do53:") else server
    return server.rsplit("@", 1)[0]


# -- from answers to facts -----------------------------------------------------------------


@dataclass(frozen=True)
class LiveLookup:
    """What the live lookups of one name say, in the terms of an Observation."""

    facts: frozenset[Fact]
    known_fields: frozenset[str]
    failures: tuple[SourceFailure, ...]

    @property
    def reads(self) -> tuple[SourceRead, ...]:
        """Live DNS as one source: the fields whose lookups answered, and their records."""
        return (SourceRead.of(SOURCE, self.known_fields, self.facts),) if self.known_fields else ()


async def lookup_name(client: DnsClient, name: str, rdtypes: Sequence[str]) -> LiveLookup:
    """Query `rdtypes` of `name` concurrently: one field per type, plus "status"."""
    # A client that asks several types of a name together (MultiplexedDnsClient.query_many)
    # does it cheaper than one task per type. (getattr: a runtime protocol check costs
    # more than a query.)
    query_many = getattr(client, "query_many", None)
    if query_many is not None:
        answers: list[DnsAnswer] = await query_many(name, rdtypes)
    else:
        answers = list(await asyncio.gather(*(client.query(name, rdtype) for rdtype in rdtypes)))
    return facts_from_answers(dict(zip(rdtypes, answers, strict=True)))


def facts_from_answers(answers: Mapping[str, DnsAnswer]) -> LiveLookup:
    """Apply the known-fields rule to the answers of one name, keyed by field (= rdtype).

    NXDOMAIN from any lookup speaks for the whole name: status NXDOMAIN and every field
    known and empty. Otherwise a field is known when its lookup gave records or no data,
    and "status" is "exists" as soon as one lookup shows the name is there.
    """
    outcomes = {answer.outcome for answer in answers.values()}
    fields = frozenset(answers)
    if Outcome.NXDOMAIN in outcomes:
        return LiveLookup(
            frozenset({Fact(STATUS_FIELD, STATUS_NXDOMAIN, SOURCE)}),
            fields | {STATUS_FIELD},
            (),
        )
    facts = {
        Fact(field, record, SOURCE)
        for field, answer in answers.items()
        if answer.outcome is Outcome.RECORDS
        for record in answer.records
    }
    known = {field for field, answer in answers.items() if answer.outcome is not Outcome.ERROR}
    if known:
        facts.add(Fact(STATUS_FIELD, STATUS_EXISTS, SOURCE))
        known.add(STATUS_FIELD)
    # One failure per distinct reason, naming every field it cost.
    by_reason: dict[tuple[str, bool], set[str]] = {}
    for field, answer in answers.items():
        if answer.outcome is Outcome.ERROR:
            by_reason.setdefault((answer.error or "lookup failed", answer.distrusted), set()).add(field)
    failures = tuple(
        SourceFailure(
            SOURCE,
            f"{', '.join(sorted(failed))}: {reason}",
            frozenset(failed) | (frozenset() if known else {STATUS_FIELD}),
            distrusted=distrusted,
        )
        for (reason, distrusted), failed in by_reason.items()
    )
    return LiveLookup(frozenset(facts), frozenset(known), failures)
