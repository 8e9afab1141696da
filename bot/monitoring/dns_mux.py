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
- queries are built and replies read by bot/monitoring/dns_wire.py, without a full
  `dns.message.Message` per reply.

Nameservers given as host names are looked up once, when first used.

Longer than most modules, on purpose: the client is one state machine (sockets, exchanges,
retries, the TCP fallback) whose invariants above are easier to check read together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import dns.exception
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.wire

from bot.config import HostPort
from bot.core.observations import Outcome
from bot.monitoring.dns import DnsAnswer, reverse_name
from bot.monitoring.dns_wire import (
    RandomIds,
    ServerError,
    Truncated,
    build_query,
    matches_question,
    parse_question,
    read_reply,
)

log = logging.getLogger(__name__)


class _Failed(Exception):
    """One nameserver's part in a lookup ended, for `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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

    from bot.core.errors import ConfigError

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
