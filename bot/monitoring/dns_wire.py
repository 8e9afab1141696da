"""The DNS wire format at monitor speed: queries assembled from their fixed parts, replies
read without building a `dns.message.Message` (that alone costs 100–130 µs of CPU, more
than c-ares spends on a whole query). The header, the question, the answer's CNAME chain
and the OPT record's extended rcode are walked directly; the records asked for are
rendered as `normalise_rdata` renders them, the common shapes (addresses, TXT strings,
host names of letters, digits, `-`, `_`) straight from the wire and everything else by
dnspython (`dns.name.from_wire_parser`, `dns.rdata.from_wire_parser`).
tests/unit/monitoring/test_dns_mux.py holds it to what a full `dns.message.from_wire` parse
and dnspython's resolver rules give, on generated replies (compression, escapes,
truncation, junk, every rcode), and checks that a query is the bytes
`dns.message.make_query(name, type, use_edns=0, payload=1232)` produces."""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import socket
import struct
from typing import cast

import dns.exception
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.wire

from bot.core.observations import Outcome
from bot.monitoring.dns import DnsAnswer, normalise_rdata

_IN = dns.rdataclass.IN
_CNAME = dns.rdatatype.CNAME
_OPT = dns.rdatatype.OPT
_A = dns.rdatatype.A
_AAAA = dns.rdatatype.AAAA
# Header after the id: flags RD, one question, no answer or authority, one additional (OPT).
_HEADER_TAIL = struct.pack("!HHHHH", 0x0100, 1, 0, 0, 1)
# The OPT record: root owner, type 41, payload 1232, extended rcode/version/flags 0, no options.
_EDNS_OPT = b"\x00" + struct.pack("!HHIH", _OPT, 1232, 0, 0)
_TC = 0x0200
_MAX_CNAME_CHAIN = 16
_MX = dns.rdatatype.MX
_SOA = dns.rdatatype.SOA
_TEXT_TYPES = frozenset({dns.rdatatype.TXT, dns.rdatatype.SPF})
_NAME_TYPES = frozenset({dns.rdatatype.CNAME, dns.rdatatype.NS, dns.rdatatype.PTR, dns.rdatatype.DNAME})
# Label bytes dnspython's to_text writes unescaped (printable ASCII but "().;\@$ and the
# quote), narrowed to what host names are made of; anything else takes the dnspython path.
_PLAIN_LABEL = re.compile(rb"[A-Za-z0-9_*-]+")
_MAX_POINTERS = 16  # dnspython's MAX_COMPRESSION_POINTER_CHAIN
_HEADER = struct.Struct("!HHHHHH")
_RR_FIXED = struct.Struct("!HHIH")  # type, class, ttl, rdlength


def parse_question(name: str, rdtype: str) -> tuple[dns.name.Name, int, bytes]:
    """(name, type, question wire). Raises DNSException for a bad name or type."""
    qname, wire = _parse_name(name)
    kind = _parse_type(rdtype)
    return qname, kind, wire + struct.pack("!HH", kind, _IN)


@functools.lru_cache(maxsize=4096)
def _parse_name(name: str) -> tuple[dns.name.Name, bytes]:
    # A check asks several types of one name in a row: it is parsed once.
    qname = dns.name.from_text(name)
    return qname, bytes(qname.to_wire() or b"")


@functools.lru_cache(maxsize=256)
def _parse_type(rdtype: str) -> int:
    return int(dns.rdatatype.from_text(rdtype))


class RandomIds:
    """Query ids from the operating system's CSPRNG, read in blocks (one system call for
    a thousand ids instead of one per query)."""

    def __init__(self, block: int = 2048) -> None:
        self._block = block
        self._ids: list[int] = []

    def next(self) -> int:
        if not self._ids:
            self._ids = list(struct.unpack(f"!{self._block}H", os.urandom(2 * self._block)))
        return self._ids.pop()


def build_query(query_id: int, question: bytes) -> bytes:
    """The wire form of a query with this id and question (name wire + type + class)."""
    return struct.pack("!H", query_id) + _HEADER_TAIL + question + _EDNS_OPT


def question_wire(qname: dns.name.Name, rdtype: int) -> bytes:
    """The question section: the name's wire form (never compressed), type, class IN."""
    return bytes(qname.to_wire() or b"") + struct.pack("!HH", rdtype, _IN)


def matches_question(reply: bytes, question: bytes) -> bool:
    """Does `reply` answer exactly `question` (one question; name case-insensitive)?

    The question is the first name of a message, so it is never compressed; label
    length bytes are below 0x40 and so untouched by lower(), which folds ASCII letters
    the way DNS name comparison does."""
    end = 12 + len(question)
    if len(reply) < end or reply[4:6] != b"\x00\x01":
        return False
    name_end = end - 4
    return reply[12:name_end].lower() == question[:-4].lower() and reply[name_end:end] == question[-4:]


class Truncated(Exception):
    """The reply had the TC bit: ask again over TCP."""


class ServerError(Exception):
    """The nameserver answered, but not with data: an error rcode ("SERVFAIL"), or a reply
    that cannot be read ("malformed")."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind

    def reason(self, where: str) -> str:
        """As ResolverDnsClient words it: "SERVFAIL from 127.0.0.1:53"."""
        return f"malformed reply from {where}" if self.kind == "malformed" else f"{self.kind} from {where}"


def read_reply(wire: bytes, qname: dns.name.Name, rdtype: int) -> DnsAnswer:
    """The outcome of a reply to (qname, rdtype) whose id and question were checked.

    Raises Truncated, or ServerError with the rcode's name ("SERVFAIL") or "malformed".
    Outcomes as dnspython's resolver gives them: the answer's CNAME chain from `qname`
    is followed to the records of the asked type (NO_DATA when the chain ends without
    them); NXDOMAIN at the end of a chain means the alias exists: NO_DATA."""
    try:
        _, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(wire)
        if flags & _TC:
            raise Truncated
        offset = _skip_question(wire, qdcount)
        answer: list[tuple[dns.name.Name, int, int, int]] = []  # owner, type, rdata offset, length
        for _ in range(ancount):
            owner, offset = _owner_name(wire, offset, qname)
            rrtype, rrclass, _ttl, rdlength = _RR_FIXED.unpack_from(wire, offset)
            offset += 10
            if offset + rdlength > len(wire):
                raise ServerError("malformed")
            if rrclass == _IN:
                answer.append((owner, rrtype, offset, rdlength))
            offset += rdlength
        for _ in range(nscount):
            offset = _skip_rr(wire, offset)[0]
        rcode = flags & 0x000F
        for _ in range(arcount):
            offset, rrtype, ttl = _skip_rr(wire, offset)
            if rrtype == _OPT:
                rcode |= (ttl >> 20) & 0xFF0  # the extended rcode's upper 8 bits
        if offset != len(wire):
            raise ServerError("malformed")
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise ServerError(_rcode_text(rcode))
        name = qname
        for _ in range(_MAX_CNAME_CHAIN + 1):
            records = _rrset(answer, name, rdtype)
            if records:
                if rcode == dns.rcode.NXDOMAIN:
                    break
                return DnsAnswer(Outcome.RECORDS, _normalise(wire, rdtype, records))
            alias = _rrset(answer, name, _CNAME)
            if not alias or rdtype == _CNAME:
                break
            name = _cname_target(wire, alias[0])
        else:
            raise ServerError("malformed")  # a CNAME loop or an absurd chain
        if rcode == dns.rcode.NXDOMAIN and name == qname:
            return DnsAnswer(Outcome.NXDOMAIN)
        # No records of the type; or NXDOMAIN for the target of an alias, which itself exists.
        return DnsAnswer(Outcome.NO_DATA)
    except (struct.error, IndexError, ValueError, dns.exception.DNSException) as exc:
        raise ServerError("malformed") from exc


def _rrset(
    answer: list[tuple[dns.name.Name, int, int, int]], name: dns.name.Name, rdtype: int
) -> list[tuple[int, int]]:
    """The (offset, length) of the answer's records of `rdtype` at `name` (compared as DNS
    names; an owner that pointed at the question is `name` itself). Of a type that holds
    one record (CNAME, SOA), the last one, as dnspython keeps it."""
    records = [
        (offset, length)
        for owner, rrtype, offset, length in answer
        if rrtype == rdtype and (owner is name or owner == name)
    ]
    singleton = len(records) > 1 and dns.rdatatype.is_singleton(cast(dns.rdatatype.RdataType, rdtype))
    return records[-1:] if singleton else records


def _rcode_text(rcode: int) -> str:
    try:
        return dns.rcode.to_text(dns.rcode.Rcode(rcode))
    except ValueError:
        return f"RCODE{rcode}"


def _skip_name(wire: bytes, offset: int) -> int:
    """The offset just past the (possibly compressed) name at `offset`."""
    while True:
        length = wire[offset]
        if length == 0:
            return offset + 1
        if length >= 0xC0:
            return offset + 2
        if length > 63:
            raise ServerError("malformed")
        offset += length + 1


def _skip_question(wire: bytes, qdcount: int) -> int:
    offset = 12
    for _ in range(qdcount):
        offset = _skip_name(wire, offset) + 4
    return offset


def _skip_rr(wire: bytes, offset: int) -> tuple[int, int, int]:
    """(offset past the record, its type, its TTL field)."""
    offset = _skip_name(wire, offset)
    rrtype, _rrclass, ttl, rdlength = _RR_FIXED.unpack_from(wire, offset)
    end = offset + 10 + rdlength
    if end > len(wire):
        raise ServerError("malformed")
    return end, rrtype, ttl


def _owner_name(wire: bytes, offset: int, qname: dns.name.Name) -> tuple[dns.name.Name, int]:
    """The owner name at `offset`: a pointer to the question's name is `qname` itself."""
    if wire[offset] == 0xC0 and wire[offset + 1] == 12:
        return qname, offset + 2
    parser = dns.wire.Parser(wire, offset)
    name = dns.name.from_wire_parser(parser)
    return name, parser.current


def _rdata(wire: bytes, rdtype: int, where: tuple[int, int]) -> dns.rdata.Rdata:
    offset, length = where
    parser = dns.wire.Parser(wire, offset)
    with parser.restrict_to(length):
        return dns.rdata.from_wire_parser(_IN, cast(dns.rdatatype.RdataType, rdtype), parser)


def _cname_target(wire: bytes, where: tuple[int, int]) -> dns.name.Name:
    target: dns.name.Name = _rdata(wire, _CNAME, where).target  # type: ignore[attr-defined]
    return target


def _normalise(wire: bytes, rdtype: int, records: list[tuple[int, int]]) -> tuple[str, ...]:
    """`normalise_records` of the answer's records. The common shapes (addresses, TXT
    strings, names of plain letters, digits and hyphens) are read straight from the wire,
    the way `normalise_rdata` would render them; anything else is parsed by dnspython."""
    values: set[str] = set()
    for offset, length in records:
        value = _plain_value(wire, rdtype, offset, length)
        if value is None:
            value = normalise_rdata(_rdata(wire, rdtype, (offset, length)))
        values.add(value)
    return tuple(sorted(values))


def _plain_value(wire: bytes, rdtype: int, offset: int, length: int) -> str | None:
    end = offset + length
    if rdtype == _A:
        return socket.inet_ntoa(wire[offset:end]) if length == 4 else None
    if rdtype == _AAAA:
        return str(ipaddress.IPv6Address(wire[offset:end])) if length == 16 else None
    if rdtype in _TEXT_TYPES:
        return _plain_strings(wire, offset, end)
    if rdtype in _NAME_TYPES:
        name, after = _plain_name(wire, offset)
        return name if after == end else None
    if rdtype == _MX and length > 2:
        name, after = _plain_name(wire, offset + 2)
        if name is None or after != end:
            return None
        return f"{(wire[offset] << 8) | wire[offset + 1]} {name}"
    if rdtype == _SOA:
        mname, after = _plain_name(wire, offset)
        if mname is None:
            return None
        rname, after = _plain_name(wire, after)
        return f"{mname} {rname}" if rname is not None and after + 20 == end else None
    return None


def _plain_strings(wire: bytes, offset: int, end: int) -> str | None:
    """TXT: the character-strings joined, as `normalise_rdata` does; None if malformed."""
    parts = []
    while offset < end:
        size = wire[offset]
        offset += 1
        if offset + size > end:
            return None
        parts.append(wire[offset : offset + size])
        offset += size
    if not parts:
        return None
    return b"".join(parts).decode("utf-8", errors="backslashreplace")


def _plain_name(wire: bytes, offset: int) -> tuple[str | None, int]:
    """A name's normalised text and the offset past it in the record, when every label is
    made of characters dnspython writes as they are (no escapes); (None, -1) otherwise,
    and for anything dnspython would refuse (bad pointers, over 255 bytes)."""
    labels: list[bytes] = []
    after = -1
    limit = offset  # a compression pointer must point before the last one (as dnspython checks)
    total = hops = 0
    while True:
        if offset >= len(wire):
            return None, -1
        size = wire[offset]
        if size == 0:
            if after < 0:
                after = offset + 1
            break
        if size >= 0xC0:
            if offset + 1 >= len(wire):
                return None, -1
            target = ((size & 0x3F) << 8) | wire[offset + 1]
            hops += 1
            if target >= limit or hops > _MAX_POINTERS:
                return None, -1
            if after < 0:
                after = offset + 2
            limit = offset = target
            continue
        if size > 63:
            return None, -1
        label = wire[offset + 1 : offset + 1 + size]
        total += size + 1
        if len(label) != size or total > 254 or not _PLAIN_LABEL.fullmatch(label):
            return None, -1
        labels.append(label)
        offset += size + 1
    if not labels:
        return None, -1  # the root: left to dnspython
    return b".".join(labels).decode("ascii").lower(), after
