"""Live DNS at monitor scale: a few long-lived UDP sockets per nameserver, many queries
in flight on each, replies matched back to their queries.

dnspython's stock resolver opens a socket per query and parses every reply into a full
`dns.message.Message`; that costs 400–800 µs of CPU per query, so a cycle over 100,000
monitors (seven queries each) would spend most of an hour in the resolver.
`MultiplexedDnsClient` keeps the same contract as `ResolverDnsClient` (the `DnsClient`
protocol, the four outcomes, the same error texts, timeouts and retries, no cache: every
query reaches the server) at a fraction of the cost:

- per nameserver, a small pool of connected UDP sockets, each bound to a random source
  port by the kernel and replaced by a fresh one after `queries_per_socket` queries;
- a random 16-bit id per query, unique among the queries in flight on its socket;
- a reply is accepted only from the nameserver's address (connected socket, and checked
  again), with the id of a query in flight and that query's exact question (name
  compared case-insensitively, type and class exactly); anything else is dropped and
  the query keeps waiting, as if the datagram never came;
- one attempt may take half of `timeout`; a lost query is sent again (the next
  nameserver first) until `timeout`, the hard cap of the whole lookup;
- SERVFAIL, REFUSED, FORMERR and the like from a nameserver end its part in the lookup
  (the next one is asked); the lookup is an ERROR naming them when none is left;
- a truncated reply (TC) is asked again over TCP; EDNS0 with a 1232-byte buffer;
- a reply is read by `read_reply` without building a `dns.message.Message` (that alone
  costs 100–130 µs of CPU, more than c-ares spends on a whole query): the header, the
  question, the answer's CNAME chain and the OPT record's extended rcode are walked
  directly; the records asked for are rendered as `normalise_rdata` renders them, the
  common shapes (addresses, TXT strings, host names of letters, digits, `-`, `_`)
  straight from the wire and everything else by dnspython (`dns.name.from_wire_parser`,
  `dns.rdata.from_wire_parser`). tests/unit/monitoring/test_dns_mux.py holds it to what
  a full `dns.message.from_wire` parse and dnspython's resolver rules give, on
  generated replies (compression, escapes, truncation, junk, every rcode);
- a query is the bytes `dns.message.make_query(name, type, use_edns=0, payload=1232)`
  produces (the same test checks it), assembled from its fixed parts.

Nameservers given as host names are looked up once, when first used.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import os
import random
import re
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import dns.exception
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.wire

from bot.config import HostPort
from bot.model.observations import Outcome
from bot.monitoring.dns import DnsAnswer, normalise_rdata, reverse_name

log = logging.getLogger(__name__)

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


class _Failed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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


# -- sockets ------------------------------------------------------------------------------


class _Exchange:
    """Questions sent together, awaited together: one wake-up when the last reply is in
    (or the attempt's time is up) instead of one per question."""

    __slots__ = ("future", "remaining", "replies")

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self.future: asyncio.Future[None] = loop.create_future()
        self.replies: list[bytes | None] = [None] * size
        self.remaining = size

    def reply(self, slot: int, wire: bytes) -> None:
        if self.replies[slot] is None:
            self.replies[slot] = wire
            self.remaining -= 1
            if not self.remaining:
                self.expire()

    def expire(self) -> None:
        if not self.future.done():
            self.future.set_result(None)


@dataclass(slots=True)
class _Query:
    question: bytes
    exchange: _Exchange
    slot: int


class _UdpSocket:
    """One connected UDP socket to one nameserver with the queries in flight on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, family: int, address: tuple[str, int]) -> None:
        self.loop = loop
        self.address = address
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.sock.setblocking(False)
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            # Connecting an unbound socket binds it to a free ephemeral port the kernel
            # picks at random, and makes the kernel drop datagrams from anyone else.
            self.sock.connect(address)
        except OSError:
            self.sock.close()
            raise
        self.pending: dict[int, _Query] = {}
        self.sent = 0
        self.retiring = False
        self.closed = False
        loop.add_reader(self.sock.fileno(), self._read_ready)

    def new_id(self, ids: RandomIds) -> int:
        """A random id no query in flight on this socket has."""
        while True:
            query_id = ids.next()
            if query_id not in self.pending:
                return query_id

    def send(self, query_id: int, question: bytes, exchange: _Exchange, slot: int) -> None:
        self.pending[query_id] = _Query(question, exchange, slot)
        self.sent += 1
        try:
            self.sock.send(build_query(query_id, question))
        except (BlockingIOError, InterruptedError):
            pass  # the send buffer is full: as good as lost; the attempt's timer resends
        except OSError as exc:  # e.g. ECONNREFUSED from an earlier ICMP error
            log.debug("DNS send to %s failed: %s", self.address, exc)

    def forget(self, query_id: int, exchange: _Exchange) -> None:
        query = self.pending.get(query_id)
        if query is not None and query.exchange is exchange:
            del self.pending[query_id]
        if self.retiring and not self.pending:
            self.close()

    def _read_ready(self) -> None:
        # Everything waiting, not one datagram per wake-up.
        for _ in range(256):
            try:
                wire, source = self.sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # an ICMP error for an earlier datagram: the attempt's timer handles it
            if source[:2] != self.address[:2] or len(wire) < 12:
                continue
            if not wire[2] & 0x80 or wire[2] & 0x78:  # not a response, or not a QUERY
                continue
            query = self.pending.get((wire[0] << 8) | wire[1])
            if query is None or not matches_question(wire, query.question):
                continue  # late, stray or spoofed: the query keeps waiting
            query.exchange.reply(query.slot, wire)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            self.loop.remove_reader(self.sock.fileno())
        self.sock.close()
        for query in self.pending.values():
            query.exchange.expire()
        self.pending.clear()


@dataclass
class _Nameserver:
    host: str
    port: int
    family: int = 0
    address: tuple[str, int] | None = None
    sockets: list[_UdpSocket] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


# -- the client ---------------------------------------------------------------------------


class MultiplexedDnsClient:
    """DnsClient over a few long-lived UDP sockets per nameserver (see the module docstring).

    `timeout` bounds one lookup in seconds, retries and the TCP fallback included; one
    attempt may take half of it. `max_in_flight` bounds the lookups in flight (a lookup
    is the questions about one name asked together, by `query_many`). Without
    nameservers, those of /etc/resolv.conf (read by dnspython, port 53) are used;
    ConfigError if there are none."""

    def __init__(
        self,
        nameservers: Sequence[HostPort] = (),
        *,
        timeout: float = 3.0,
        max_in_flight: int = 64,
        sockets_per_server: int = 4,
        queries_per_socket: int = 10_000,
    ) -> None:
        if not nameservers:
            nameservers = system_nameservers()
        self._servers = [_Nameserver(ns.host, ns.port) for ns in nameservers]
        self._timeout = timeout
        self._attempt = timeout / 2
        self._limit = asyncio.Semaphore(max_in_flight)
        self._ids = RandomIds()
        # Questions asked again after their first attempt (lost, late, or refused by one
        # nameserver of several): a health figure for the benchmarks and operators.
        self.resent = 0
        self._sockets_per_server = sockets_per_server
        self._queries_per_socket = queries_per_socket

    async def query(self, name: str, rdtype: str) -> DnsAnswer:
        return (await self.query_many(name, (rdtype,)))[0]

    async def query_many(self, name: str, rdtypes: Sequence[str]) -> list[DnsAnswer]:
        """Several types of one name, asked at once (what a dataset's check asks)."""
        answers: list[DnsAnswer | None] = [None] * len(rdtypes)
        questions: list[tuple[int, dns.name.Name, int, bytes]] = []
        for index, rdtype in enumerate(rdtypes):
            try:
                questions.append((index, *parse_question(name, rdtype)))
            except dns.exception.DNSException as exc:
                answers[index] = DnsAnswer(
                    Outcome.ERROR, error=f"bad query {name!r} {rdtype}: {_describe(exc)}"
                )
        if questions:
            async with self._limit:
                for (index, *_), answer in zip(questions, await self._lookup(questions), strict=True):
                    answers[index] = answer
        return [answer for answer in answers if answer is not None]

    async def reverse(self, ip: str) -> DnsAnswer:
        """PTR records of an IP address."""
        name = reverse_name(ip)
        if name is None:
            return DnsAnswer(Outcome.ERROR, error=f"not an IP address: {ip!r}")
        return await self.query(name, "PTR")

    async def aclose(self) -> None:
        for server in self._servers:
            for udp in server.sockets:
                udp.close()
            server.sockets.clear()

    async def _lookup(self, questions: Sequence[tuple[int, dns.name.Name, int, bytes]]) -> list[DnsAnswer]:
        """Every question's first attempt goes out at once to the first nameserver; the
        answers that came are read, and only the questions left without one (lost,
        truncated, refused...) go on, concurrently, through the retry rules of `_resolve`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        server = self._servers[0]
        first: list[bytes | OSError | None] = []
        try:
            udp = await self._socket(server)
        except OSError as exc:
            first = [exc] * len(questions)
        else:
            exchange = _Exchange(loop, len(questions))
            ids = []
            for slot, (*_, question) in enumerate(questions):
                query_id = udp.new_id(self._ids)
                udp.send(query_id, question, exchange, slot)
                ids.append(query_id)
            timer = loop.call_later(self._attempt, exchange.expire)
            try:
                await exchange.future
            finally:
                timer.cancel()
                for query_id in ids:
                    udp.forget(query_id, exchange)
            first = list(exchange.replies)
        answers: list[DnsAnswer | None] = []
        for (_, qname, rdtype, _), wire in zip(questions, first, strict=True):
            answer = None
            if isinstance(wire, bytes):
                with contextlib.suppress(Truncated, ServerError):
                    answer = read_reply(wire, qname, rdtype)
            answers.append(answer)
        rest = [
            self._resolve(qname, rdtype, question, deadline, first=wire)
            for (_, qname, rdtype, question), wire, answer in zip(questions, first, answers, strict=True)
            if answer is None
        ]
        if rest:
            more = iter(await asyncio.gather(*rest))
            answers = [answer if answer is not None else next(more) for answer in answers]
        return [answer for answer in answers if answer is not None]

    async def _resolve(
        self,
        qname: dns.name.Name,
        rdtype: int,
        question: bytes,
        deadline: float,
        *,
        first: bytes | OSError | None,
    ) -> DnsAnswer:
        """The lookup of one question after its first attempt at the first nameserver
        (`first`: the reply, None when none came, or why the socket failed)."""
        loop = asyncio.get_running_loop()
        candidates = list(self._servers)
        errors: list[str] = []
        turn = 0
        tried: bytes | OSError | _NotTried | None = first
        while candidates and loop.time() < deadline:
            server = candidates[turn % len(candidates)]
            try:
                answer = await self._ask(server, qname, rdtype, question, deadline, tried)
            except _Failed as exc:
                if exc.reason not in errors:
                    errors.append(exc.reason)
                candidates.remove(server)  # it answered, badly: the others are asked
                continue
            finally:
                tried = _NOT_TRIED
            if answer is not None:
                return answer
            turn += 1  # lost or late: the next nameserver, or this one again
        if candidates or not errors:
            return DnsAnswer(Outcome.ERROR, error=f"no answer within {self._timeout:g}s")
        more = f" and {len(errors) - 3} more" if len(errors) > 3 else ""
        return DnsAnswer(Outcome.ERROR, error="; ".join(errors[:3]) + more)

    async def _ask(
        self,
        server: _Nameserver,
        qname: dns.name.Name,
        rdtype: int,
        question: bytes,
        deadline: float,
        tried: bytes | OSError | _NotTried | None,
    ) -> DnsAnswer | None:
        """One attempt at one nameserver (over TCP too when the UDP reply is truncated):
        its answer, None when no reply came in time, or _Failed naming what went wrong.
        `tried`: the outcome of an attempt already made, or _NOT_TRIED."""
        if isinstance(tried, _NotTried):
            self.resent += 1
            wait = min(self._attempt, deadline - asyncio.get_running_loop().time())
            try:
                tried = await self._exchange_udp(server, question, wait)
            except OSError as exc:
                tried = exc
        if isinstance(tried, OSError):
            raise _Failed(f"connection to {server.where} failed ({tried.__class__.__name__})") from tried
        wire = tried
        if wire is None:
            return None
        try:
            return read_reply(wire, qname, rdtype)
        except Truncated:
            pass  # the normal step before asking over TCP, not a failure
        except ServerError as exc:
            raise _Failed(exc.reason(server.where)) from exc
        try:
            wire = await self._exchange_tcp(server, question, deadline)
            if wire is None:
                return None
            return read_reply(wire, qname, rdtype)
        except Truncated as exc:
            raise _Failed(f"truncated reply from {server.where} over TCP") from exc
        except ServerError as exc:
            raise _Failed(exc.reason(server.where) + " over TCP") from exc
        except OSError as exc:
            raise _Failed(f"connection to {server.where} failed ({exc.__class__.__name__}) over TCP") from exc

    async def _exchange_udp(self, server: _Nameserver, question: bytes, wait: float) -> bytes | None:
        """Send the question once: the reply's bytes, or None when none came within `wait`."""
        udp = await self._socket(server)
        query_id = udp.new_id(self._ids)
        exchange = _Exchange(udp.loop, 1)
        udp.send(query_id, question, exchange, 0)
        timer = udp.loop.call_later(wait, exchange.expire)
        try:
            await exchange.future
        finally:
            timer.cancel()
            udp.forget(query_id, exchange)
        return exchange.replies[0]

    async def _exchange_tcp(self, server: _Nameserver, question: bytes, deadline: float) -> bytes | None:
        loop = asyncio.get_running_loop()
        remaining = deadline - loop.time()
        if remaining <= 0:
            return None
        address = await self._address(server)
        query_id = self._ids.next()
        wire = build_query(query_id, question)
        try:
            async with asyncio.timeout(remaining):
                reader, writer = await asyncio.open_connection(address[0], address[1])
                try:
                    writer.write(struct.pack("!H", len(wire)) + wire)
                    await writer.drain()
                    size = struct.unpack("!H", await reader.readexactly(2))[0]
                    reply = await reader.readexactly(size)
                finally:
                    writer.close()
                    with contextlib.suppress(Exception):
                        await writer.wait_closed()
        except TimeoutError:
            return None
        except asyncio.IncompleteReadError as exc:
            raise ServerError("malformed") from exc
        if (
            len(reply) < 12
            or (reply[0] << 8 | reply[1]) != query_id
            or not reply[2] & 0x80
            or not matches_question(reply, question)
        ):
            raise ServerError("malformed")
        return reply

    async def _address(self, server: _Nameserver) -> tuple[str, int]:
        if server.address is None:
            loop = asyncio.get_running_loop()
            infos = await loop.getaddrinfo(server.host, server.port, type=socket.SOCK_DGRAM)
            if not infos:
                raise OSError(f"cannot resolve nameserver {server.host}")
            family, _, _, _, sockaddr = infos[0]
            server.family = family
            server.address = (str(sockaddr[0]), int(sockaddr[1]))
        return server.address

    async def _socket(self, server: _Nameserver) -> _UdpSocket:
        """A socket of the server's pool; one past its query budget is replaced by a new
        one (new random port) and closed once its last query is answered."""
        address = server.address if server.address is not None else await self._address(server)
        pool = server.sockets
        loop = asyncio.get_running_loop()
        if len(pool) < self._sockets_per_server:
            udp = _UdpSocket(loop, server.family, address)
            pool.append(udp)
            return udp
        index = random.randrange(len(pool))
        udp = pool[index]
        if udp.sent >= self._queries_per_socket or udp.closed or udp.loop is not loop:
            udp.retiring = True
            if not udp.pending or udp.loop is not loop:
                udp.close()
            udp = pool[index] = _UdpSocket(loop, server.family, address)
        return udp


class _NotTried:
    """No attempt made yet."""


_NOT_TRIED = _NotTried()


def system_nameservers(filename: str = "/etc/resolv.conf") -> tuple[HostPort, ...]:
    """The nameservers of /etc/resolv.conf, read by dnspython (no network)."""
    import dns.resolver

    from bot.errors import ConfigError

    try:
        resolver = dns.resolver.Resolver(filename=filename, configure=True)
    except dns.resolver.NoResolverConfiguration:
        resolver = None
    servers = [str(ns) for ns in resolver.nameservers] if resolver is not None else []
    if not servers:
        raise ConfigError("no system resolver configured (/etc/resolv.conf): set WATCHPOST_DNS_NAMESERVERS")
    return tuple(HostPort(server, 53) for server in servers)


def _describe(exc: BaseException) -> str:
    from bot.monitoring.dns import _describe as describe

    return describe(exc)
