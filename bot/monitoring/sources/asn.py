"""Origin AS of an IP from Team Cymru's DNS service (no key, goes through the resolver).

TXT `<reversed-octets>.origin.asn.cymru.com` (IPv6: nibbles under origin6.asn.cymru.com)
-> "15169 | 8.8.8.0/24 | US | arin | 2023-12-28"; TXT `AS15169.asn.cymru.com`
-> "15169 | US | arin | 2000-03-30 | GOOGLE, US".
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Awaitable, Callable

from bot.core.errors import SourceError
from bot.core.observations import Fact, Outcome
from bot.monitoring.dns import DnsAnswer
from bot.monitoring.sources.http import RequestGate, gated

SOURCE = "asn"
FIELDS = frozenset({"asn", "as_name"})
SINGLE_VALUED_FIELDS = FIELDS

TxtLookup = Callable[[str], Awaitable[DnsAnswer]]


class CymruAsnLookup:
    """`txt_lookup(name)` asks the configured resolver for TXT records of `name`."""

    def __init__(self, txt_lookup: TxtLookup, *, gate: RequestGate | None = None) -> None:
        self._txt = txt_lookup
        self._gate = gate  # each lookup logged for source health

    async def origin(self, ip: str) -> str | None:
        """The origin ASN of an IP ("AS15169"), None when unrouted; SourceError on a DNS error."""
        asn = origin_asn(await self._records(origin_query_name(ip)))
        return None if asn is None else f"AS{asn}"

    async def asn_facts(self, ip: str) -> list[Fact]:
        """ "asn" and "as_name" facts; none for an unrouted IP; SourceError on a DNS error."""
        origin = await self.origin(ip)
        if origin is None:
            return []
        asn = origin.removeprefix("AS")
        facts = [Fact("asn", origin, SOURCE)]
        name = as_name(await self._records(f"AS{asn}.asn.cymru.com"))
        if name:
            facts.append(Fact("as_name", name, SOURCE))
        return facts

    async def _records(self, name: str) -> tuple[str, ...]:
        async with gated(self._gate, SOURCE):
            answer = await self._txt(name)
            if answer.outcome is Outcome.ERROR:
                raise SourceError(SOURCE, f"TXT {name}: {answer.error or 'lookup failed'}")
        return answer.records if answer.outcome is Outcome.RECORDS else ()


def origin_query_name(ip: str) -> str:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        raise SourceError(SOURCE, f"not an IP address: {ip!r}", transient=False) from None
    reverse = address.reverse_pointer
    if address.version == 4:
        return reverse.removesuffix(".in-addr.arpa") + ".origin.asn.cymru.com"
    return reverse.removesuffix(".ip6.arpa") + ".origin6.asn.cymru.com"


def origin_asn(records: tuple[str, ...]) -> int | None:
    """The origin AS of the most specific announced prefix (lowest AS number on a tie).

    A record may name several origin ASes ("13335 209242 | ..."): the lowest is taken so
    the single value does not flap with record order.
    """
    best: tuple[int, int] | None = None  # (-prefix length, asn): min() is the answer
    for record in records:
        parts = [part.strip() for part in _unquote(record).split("|")]
        if len(parts) < 2:
            continue
        numbers = [int(token) for token in parts[0].split() if token.isdigit()]
        try:
            length = ipaddress.ip_network(parts[1], strict=False).prefixlen
        except ValueError:
            length = 0
        for number in numbers:
            candidate = (-length, number)
            if best is None or candidate < best:
                best = candidate
    return None if best is None else best[1]


def as_name(records: tuple[str, ...]) -> str | None:
    for record in records:
        parts = [part.strip() for part in _unquote(record).split("|")]
        if len(parts) >= 5:
            name = " | ".join(parts[4:]).strip()
            if name:
                return " ".join(name.split())
    return None


def _unquote(record: str) -> str:
    # Presentation format ('"a" "b"') if a caller passes it; plain text otherwise.
    record = record.strip()
    if record.startswith('"') and record.endswith('"'):
        return "".join(record[1:-1].split('" "'))
    return record


class CachedOrigin:
    """Origin ASNs remembered for a while: routing moves in days, checks come every hour,
    and a domain's addresses are looked up on every check."""

    def __init__(
        self,
        lookup: Callable[[str], Awaitable[str | None]],
        *,
        ttl: float = 6 * 3600,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[float, str | None]] = {}

    async def __call__(self, ip: str) -> str | None:
        now = self._clock()
        hit = self._entries.get(ip)
        if hit is not None and hit[0] > now:
            return hit[1]
        asn = await self._lookup(ip)  # a SourceError is not cached: the next check asks again
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[ip] = (now + self._ttl, asn)
        return asn
