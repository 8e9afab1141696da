"""MISP's warning lists (well-known benign domains and address ranges), compiled for the one
question an import asks: is this domain or IP on a list, and which one?

The lists ship in the `pymispwarninglists` package (no MISP needed). Its own `WarningLists`
takes 8 s to load and, with the matching MISP does, scans every entry of the big hostname
lists for each value (0.1 s a value); kept as Python sets and dictionaries, the two
million names take 370 MB. So they are compiled here, once, on first use: every name
becomes one 64-bit number (its hash with the list's number in the low bits) in a sorted
numpy array, so a lookup is a binary search; building takes about 1.3 s and 110 MB at the
peak (one list's JSON at a time), and what is kept about 30 MB.
`warning_lists()` loads them lazily and keeps them for the life of the process; nothing
happens at import time. (A name on no list taking the number of one on a list: about one
chance in ten billion per lookup.)

Only the lists MISP itself applies to the attribute types an import reads are used (their
`matching_attributes` name `domain`/`hostname`, or `ip-src`/`ip-dst`): hash, email and
phone lists are skipped, and so are the lists of address space anyone can rent (`RENTED`:
cloud and datacenter ranges, VPN providers): most attacker servers live there, so being in
them says nothing about whose an address is. Matching follows MISP's types: `string` exact
(an entry with a leading dot also matches names under it), `hostname` the name or a name
under it, `cidr` the address inside a range, `substring` part of the value. One
refinement: a name under a listed one counts only while it is run by the same registrant,
that is, no public suffix lies between them (Mozilla's Public Suffix List, private section included). So
`mail.google.com` is on the lists with `google.com`, while `evil.duckdns.org` and
`phish.blogspot.com`, names anyone can get under a listed platform, are not. Regex lists
(phone numbers, contact mailboxes) match no domain or IP type and are left aside.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import socket
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
from publicsuffixlist import PublicSuffixList

# Lists (by their folder in misp-warninglists) of address space anyone can rent.
RENTED = frozenset(
    {
        "vpn-ipv4",
        "vpn-ipv6",
        "amazon-aws",
        "google-gcp",
        "microsoft-azure",
        "microsoft-azure-china",
        "microsoft-azure-germany",
        "microsoft-azure-us-gov",
        "ovh-cluster",
    }
)
DOMAIN_ATTRIBUTES = frozenset({"domain", "hostname"})
ADDRESS_ATTRIBUTES = frozenset({"ip-src", "ip-dst"})
_KINDS = frozenset({"string", "hostname", "cidr", "substring"})
_LIST_BITS = 10  # the low bits of a name's number: which list (up to 1,024 lists)
_LIST_MASK = (1 << _LIST_BITS) - 1


def _key(name: str) -> int:
    """A name's number without the list bits (Python's str hash: stable within a process)."""
    return hash(name) & ~_LIST_MASK


class _NameTable:
    """Names -> list numbers: sorted 64-bit numbers, each a name's key with a list in its low bits."""

    def __init__(self, numbers: array[int]) -> None:
        self._numbers = np.sort(np.frombuffer(numbers, dtype=np.int64)) if numbers else np.zeros(0, np.int64)

    def lists(self, name: str) -> list[int]:
        key = _key(name)
        start = int(np.searchsorted(self._numbers, key, side="left"))
        end = int(np.searchsorted(self._numbers, key | _LIST_MASK, side="right"))
        return [int(number) & _LIST_MASK for number in self._numbers[start:end]]


@dataclass
class _Side:
    """The entries that can match one kind of value (domains, or IP addresses)."""

    # 64-bit numbers as they come (8 bytes each, not a Python int object each)
    exact: array[int] = field(default_factory=lambda: array("q"))  # the name itself
    under: array[int] = field(default_factory=lambda: array("q"))  # the name and names below it
    substrings: list[tuple[str, int]] = field(default_factory=list)  # (entry, list number)
    # (IP version, prefix length) -> network address as an int -> list numbers
    networks: dict[tuple[int, int], dict[int, list[int]]] = field(default_factory=dict)


class WarningLists:
    """The compiled lists: `domain_hits` and `address_hits` name the lists a value is on."""

    def __init__(self, lists: Iterable[Mapping[str, Any]]) -> None:
        self.names: list[str] = []
        self._sizes: list[int] = []
        domains, addresses = _Side(), _Side()
        for item in lists:
            self._add(item, domains, addresses)
        self._domain_exact, self._domain_under = _NameTable(domains.exact), _NameTable(domains.under)
        self._address_exact = _NameTable(addresses.exact)
        self._domains, self._addresses = domains, addresses
        domains.exact = domains.under = addresses.exact = addresses.under = array("q")
        self._suffixes = PublicSuffixList()

    def _add(self, item: Mapping[str, Any], domains: _Side, addresses: _Side) -> None:
        name = str(item.get("name") or "").strip()
        kind = item.get("type")
        matching = set(item.get("matching_attributes") or ())
        entries = [entry for entry in item.get("list") or () if isinstance(entry, str) and entry]
        for_domains = not matching or bool(matching & DOMAIN_ATTRIBUTES)
        for_addresses = not matching or bool(matching & ADDRESS_ATTRIBUTES)
        if item.get("folder") in RENTED:
            return
        if not name or not entries or kind not in _KINDS or not (for_domains or for_addresses):
            return
        if len(self.names) > _LIST_MASK:
            raise ValueError(f"more than {_LIST_MASK + 1} warning lists: widen _LIST_BITS")
        number = len(self.names)
        self.names.append(name)
        self._sizes.append(len(entries))
        if for_domains:
            _compile(domains, number, kind, entries, domains=True)
        if for_addresses:
            _compile(addresses, number, kind, entries, domains=False)

    def domain_hits(self, domain: str) -> list[str]:
        """The lists `domain` (lower-case, no trailing dot) is on, the most specific first."""
        found = set(self._domain_exact.lists(domain))
        labels = domain.split(".")
        # The registrable domain, private suffixes included: nothing above it is the same owner's.
        registrable = self._suffixes.privatesuffix(domain)
        for start in range(len(labels)):
            name = ".".join(labels[start:])
            if start and registrable is not None and len(name) < len(registrable):
                break
            found.update(self._domain_under.lists(name))
        found.update(number for entry, number in self._domains.substrings if entry in domain)
        return self._named(found)

    def address_hits(self, address: str) -> list[str]:
        """The lists an IP address (canonical text) is on, the most specific first."""
        found = set(self._address_exact.lists(address))
        found.update(number for entry, number in self._addresses.substrings if entry in address)
        found.update(_network_hits(self._addresses.networks, address))
        return self._named(found)

    def _named(self, numbers: Iterable[int]) -> list[str]:
        """List names, the most specific (shortest) list first: "known google domains"
        says more than "top million sites"."""
        found = {n for n in numbers if n < len(self.names)}
        return [self.names[n] for n in sorted(found, key=lambda n: (self._sizes[n], self.names[n]))]


def _compile(into: _Side, number: int, kind: object, entries: list[str], *, domains: bool) -> None:
    """Add one list's entries to one side (domains or addresses). The loops are the start-up
    cost of two million names: written out, no call per name."""
    if kind == "substring":
        into.substrings.extend((entry.strip().lower(), number) for entry in entries)
    elif kind == "cidr":
        for entry in entries:
            network = _network(entry.strip())
            if network is None:
                if domains:  # a name in an address list: MISP matches it exactly
                    into.exact.append(_key(entry.strip().lower()) | number)
                continue
            version, prefix, address = network
            table = into.networks.setdefault((version, prefix), {})
            table.setdefault(address, []).append(number)
    elif domains:
        exact, under, mask = into.exact, into.under, ~_LIST_MASK
        for entry in entries:
            value = entry.strip().lower().rstrip(".")
            if kind == "hostname" or value[:1] == ".":
                under.append(hash(value.lstrip(".")) & mask | number)
            else:
                exact.append(hash(value) & mask | number)
    else:
        for entry in entries:
            canonical = _canonical_address(entry.strip())
            if canonical is not None:
                into.exact.append(_key(canonical) | number)


def _network(entry: str) -> tuple[int, int, int] | None:
    """`192.0.2.0/24`, `2001:db8::/32` or one address -> (IP version, prefix length, network
    address as an int); None for anything else. socket's parser: ipaddress' takes 10 µs an entry."""
    text, slash, length = entry.partition("/")
    family, version, width = (socket.AF_INET6, 6, 128) if ":" in text else (socket.AF_INET, 4, 32)
    try:
        address = int.from_bytes(socket.inet_pton(family, text), "big")
    except OSError:
        return None
    if not slash:
        return version, width, address
    if not length.isdigit() or int(length) > width:
        return None
    prefix = int(length)
    return version, prefix, address >> (width - prefix) << (width - prefix)


def _canonical_address(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _network_hits(networks: Mapping[tuple[int, int], Mapping[int, list[int]]], value: str) -> list[int]:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return []
    number = int(address)
    width = address.max_prefixlen
    found: list[int] = []
    for (version, prefix), table in networks.items():
        if version == address.version:
            found.extend(table.get(number >> (width - prefix) << (width - prefix), ()))
    return found


def packaged_lists() -> Iterator[dict[str, Any]]:
    """Each list shipped in `pymispwarninglists` (its `data/misp-warninglists/lists/*/list.json`,
    where its own loader reads them) with its `folder`, one at a time: only the compiled form
    stays in memory."""
    root = resources.files("pymispwarninglists") / "data" / "misp-warninglists" / "lists"
    for folder in sorted(root.iterdir(), key=lambda item: item.name):
        document = folder / "list.json"
        if document.is_file():
            yield {**json.loads(document.read_text(encoding="utf-8")), "folder": folder.name}


@functools.cache
def warning_lists() -> WarningLists:
    """The packaged lists, compiled on first use and kept (about 1.3 s, once per process)."""
    return WarningLists(packaged_lists())
