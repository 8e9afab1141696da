"""A real authoritative DNS server on loopback for tests, and its `dns_server` fixture.

It speaks the wire protocol over UDP and TCP on one random port of 127.0.0.1 and runs
in its own thread with its own sockets, so it works with any event loop (or none). The
zone lives in memory and can be changed while the server runs; fault modes make it
misbehave the ways real servers do:

    timeout        drop the query (TCP: keep the connection open, never answer)
    servfail       answer SERVFAIL
    refused        answer REFUSED
    formerr        answer FORMERR
    truncate       over UDP, an empty reply with the TC bit; over TCP, the full answer
    garbage        a reply whose id does not match the query's
    slow:<secs>    answer normally after a delay
    nxdomain       lie: NXDOMAIN for every name, existing or not (a broken or filtering resolver)
    rewrite:<ip>   lie: a name that does not exist gets an A record <ip> instead of NXDOMAIN
                   (the "search assist" NXDOMAIN rewriting some ISPs' resolvers do)

Usage::

    async def test_x(dns_server):
        dns_server.set("example.com", "A", ["93.184.216.34"])
        dns_server.set_fault("servfail", name="broken.example")
        dns_server.set_fault("timeout", name="example.com", rdtype="AAAA")
        client = ResolverDnsClient([HostPort(dns_server.host, dns_server.port)])
"""

from __future__ import annotations

import collections
import contextlib
import errno
import selectors
import socket
import struct
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import pytest

FAULT_MODES = ("timeout", "servfail", "refused", "formerr", "truncate", "garbage", "nxdomain")

_FAULT_RCODES = {"servfail": dns.rcode.SERVFAIL, "refused": dns.rcode.REFUSED, "formerr": dns.rcode.FORMERR}

# The SOA sent with negative answers for names no SOA record of the zone encloses.
_DEFAULT_SOA = "ns.fake-dns.test. hostmaster.fake-dns.test. 1 3600 600 86400 300"


@dataclass(frozen=True)
class _Fault:
    mode: str
    delay: float = 0.0
    address: str = ""


def _parse_fault(mode: str) -> _Fault:
    if mode.startswith("slow:"):
        return _Fault("slow", float(mode.removeprefix("slow:")))
    if mode.startswith("rewrite:"):
        return _Fault("rewrite", address=mode.removeprefix("rewrite:"))
    if mode not in FAULT_MODES:
        raise ValueError(
            f"unknown fault mode {mode!r}; use one of {FAULT_MODES}, 'slow:<seconds>' or 'rewrite:<ip>'"
        )
    return _Fault(mode)


def _name(text: str) -> dns.name.Name:
    return dns.name.from_text(text)


def _rdata(rdtype: dns.rdatatype.RdataType, text: str) -> dns.rdata.Rdata:
    """Zone-file text to rdata; names without a trailing dot are taken as absolute too."""
    return dns.rdata.from_text(dns.rdataclass.IN, rdtype, text, origin=dns.name.root, relativize=False)


def _key(name: dns.name.Name) -> str:
    """How counters and faults spell a name: lower-case, no trailing dot."""
    return name.to_text(omit_final_dot=True).lower() if name != dns.name.root else "."


class FakeDnsServer:
    """An in-memory authoritative server for the whole namespace."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self._lock = threading.Lock()
        # name -> rdtype -> rdataset; dns.name.Name compares and hashes case-insensitively.
        self._zone: dict[dns.name.Name, dict[dns.rdatatype.RdataType, dns.rdataset.Rdataset]] = {}
        self._global_fault: _Fault | None = None
        self._name_faults: dict[tuple[str, str | None], _Fault] = {}
        self.queries: collections.Counter[tuple[str, str, str]] = collections.Counter()
        self._stopping = threading.Event()
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    @property
    def nameserver(self) -> str:
        return f"{self.host}:{self.port}"

    # -- zone ---------------------------------------------------------------------------

    def set(self, name: str, rdtype: str, rdatas: Iterable[str], ttl: int = 300) -> None:
        """Replace the records of one type at one name (an empty list leaves the name, no records)."""
        owner = _name(name)
        kind = dns.rdatatype.from_text(rdtype)
        rdataset = dns.rdataset.Rdataset(dns.rdataclass.IN, kind)
        for text in rdatas:
            rdataset.add(_rdata(kind, text), ttl)
        with self._lock:
            node = self._zone.setdefault(owner, {})
            if len(rdataset):
                node[kind] = rdataset
            else:
                node.pop(kind, None)

    def remove(self, name: str, rdtype: str | None = None) -> None:
        """Remove one type at a name, or the whole name (it then answers NXDOMAIN)."""
        owner = _name(name)
        with self._lock:
            if rdtype is None:
                self._zone.pop(owner, None)
            elif owner in self._zone:
                self._zone[owner].pop(dns.rdatatype.from_text(rdtype), None)

    # -- faults -------------------------------------------------------------------------

    def set_fault(self, mode: str | None, name: str | None = None, rdtype: str | None = None) -> None:
        """Set (or with None clear) a fault for every query, or only for queries of `name`
        (and, with `rdtype`, only for that type at that name).

        The most specific fault wins: name and type, then name, then global.
        """
        fault = None if mode is None else _parse_fault(mode)
        if name is None and rdtype is not None:
            raise ValueError("a fault for one type needs a name")
        with self._lock:
            if name is None:
                self._global_fault = fault
                return
            key = (_key(_name(name)), None if rdtype is None else rdtype.upper())
            if fault is None:
                self._name_faults.pop(key, None)
            else:
                self._name_faults[key] = fault

    def clear_faults(self) -> None:
        with self._lock:
            self._global_fault = None
            self._name_faults.clear()

    @contextlib.contextmanager
    def fault(self, mode: str, name: str | None = None, rdtype: str | None = None) -> Iterator[None]:
        """`with server.fault("servfail"): ...` sets a fault for the block only."""
        self.set_fault(mode, name, rdtype)
        try:
            yield
        finally:
            self.set_fault(None, name, rdtype)

    # -- counters -----------------------------------------------------------------------

    def query_count(
        self, name: str | None = None, rdtype: str | None = None, transport: str | None = None
    ) -> int:
        """Queries received, filtered by name, type ("A") and transport ("udp"/"tcp")."""
        want_name = None if name is None else _key(_name(name))
        want_type = None if rdtype is None else rdtype.upper()
        with self._lock:
            return sum(
                count
                for (qname, qtype, qtransport), count in self.queries.items()
                if (want_name is None or qname == want_name)
                and (want_type is None or qtype == want_type)
                and (transport is None or qtransport == transport)
            )

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> FakeDnsServer:
        self._udp, self._tcp = self._bind_pair(self.port)
        self._thread = threading.Thread(target=self._serve, name=f"fake-dns-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for sock in (self._udp, self._tcp, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()

    def down(self) -> None:
        """The server is gone: its port is closed until `up()` (queries go unanswered)."""
        self.stop()

    def up(self) -> None:
        """Back on the same port, with the same zone."""
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self.start()

    def __enter__(self) -> FakeDnsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _bind_pair(self, requested: int = 0) -> tuple[socket.socket, socket.socket]:
        """A UDP and a TCP socket on port `requested`, or on one free port (retrying if TCP's is taken)."""
        for _ in range(50):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((self.host, requested))
            port = udp.getsockname()[1]
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((self.host, port))
            except OSError as exc:
                udp.close()
                tcp.close()
                if exc.errno == errno.EADDRINUSE and not requested:
                    continue
                raise
            tcp.listen(64)
            self.port = port
            return udp, tcp
        raise RuntimeError("no free port for both UDP and TCP")

    def _serve(self) -> None:
        assert self._udp is not None and self._tcp is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._udp, selectors.EVENT_READ, "udp")
            selector.register(self._tcp, selectors.EVENT_READ, "tcp")
            selector.register(self._wake_r, selectors.EVENT_READ, "wake")
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.data == "udp":
                        try:
                            wire, peer = self._udp.recvfrom(65535)
                        except OSError:
                            continue
                        # One thread per query so a slow answer never holds up the others.
                        threading.Thread(target=self._handle_udp, args=(wire, peer), daemon=True).start()
                    elif key.data == "tcp":
                        try:
                            conn, _ = self._tcp.accept()
                        except OSError:
                            continue
                        with self._lock:
                            self._connections.add(conn)
                        threading.Thread(target=self._handle_tcp, args=(conn,), daemon=True).start()

    def _handle_udp(self, wire: bytes, peer: tuple[str, int]) -> None:
        reply = self._reply(wire, "udp")
        if reply is not None and self._udp is not None:
            with contextlib.suppress(OSError):
                self._udp.sendto(reply, peer)

    def _handle_tcp(self, conn: socket.socket) -> None:
        try:
            while not self._stopping.is_set():
                header = _recv_exactly(conn, 2)
                if header is None:
                    return
                wire = _recv_exactly(conn, struct.unpack("!H", header)[0])
                if wire is None:
                    return
                reply = self._reply(wire, "tcp")
                if reply is None:
                    continue  # "timeout": say nothing; the client gives up and closes
                conn.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            return
        finally:
            with self._lock:
                self._connections.discard(conn)
            conn.close()

    # -- answering ----------------------------------------------------------------------

    def _reply(self, wire: bytes, transport: str) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if len(query.question) != 1:
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        key, qtype = _key(question.name), dns.rdatatype.to_text(question.rdtype)
        with self._lock:
            self.queries[(key, qtype, transport)] += 1
            faults = self._name_faults
            fault = faults.get((key, qtype)) or faults.get((key, None)) or self._global_fault

        if fault is not None:
            if fault.mode == "timeout":
                return None
            if fault.mode == "slow" and self._stopping.wait(fault.delay):
                return None
            if fault.mode in _FAULT_RCODES:
                response = dns.message.make_response(query)
                response.set_rcode(_FAULT_RCODES[fault.mode])
                return response.to_wire()
            if fault.mode == "truncate" and transport == "udp":
                response = dns.message.make_response(query)
                response.flags |= dns.flags.TC
                return response.to_wire()
            if fault.mode == "garbage":
                response = self._answer(query)
                response.id = (query.id + 1) % 65536
                return response.to_wire()
            if fault.mode == "nxdomain":
                response = dns.message.make_response(query)
                response.set_rcode(dns.rcode.NXDOMAIN)
                response.authority.append(self._soa_for(question.name))
                return response.to_wire()

        response = self._answer(query)
        if fault is not None and fault.mode == "rewrite" and response.rcode() == dns.rcode.NXDOMAIN:
            response = dns.message.make_response(query)
            if question.rdtype == dns.rdatatype.A:
                rrset = dns.rrset.RRset(question.name, dns.rdataclass.IN, dns.rdatatype.A)
                rrset.add(_rdata(dns.rdatatype.A, fault.address), 60)
                response.answer.append(rrset)
        if transport == "tcp":
            return response.to_wire(max_size=65535)
        limit = max(512, query.payload) if query.edns >= 0 else 512
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.TC | dns.flags.AA
            return truncated.to_wire()

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        qname, qtype = question.name, question.rdtype
        with self._lock:
            # Follow CNAMEs inside the zone, as an authoritative server does.
            seen: set[dns.name.Name] = set()
            while True:
                node = self._zone.get(qname)
                if node is None:
                    if not self._exists(qname):
                        response.set_rcode(dns.rcode.NXDOMAIN)
                        response.authority.append(self._soa_for(qname))
                    return response
                if qtype in node:
                    response.answer.append(_rrset(qname, node[qtype]))
                    return response
                cname = node.get(dns.rdatatype.CNAME)
                if cname is None or qtype == dns.rdatatype.CNAME or qname in seen:
                    if not response.answer:
                        response.authority.append(self._soa_for(qname))
                    return response
                seen.add(qname)
                response.answer.append(_rrset(qname, cname))
                qname = next(iter(cname)).target

    def _exists(self, name: dns.name.Name) -> bool:
        """A name exists if it owns records or is an empty non-terminal above one that does."""
        return any(owner.is_subdomain(name) and self._zone[owner] for owner in self._zone)

    def _soa_for(self, name: dns.name.Name) -> dns.rrset.RRset:
        """The SOA of the closest enclosing zone apex set in the zone, or a default root one."""
        candidate = name
        while True:
            node = self._zone.get(candidate)
            if node is not None and dns.rdatatype.SOA in node:
                return _rrset(candidate, node[dns.rdatatype.SOA])
            if candidate == dns.name.root:
                break
            candidate = candidate.parent()
        rrset = dns.rrset.RRset(dns.name.root, dns.rdataclass.IN, dns.rdatatype.SOA)
        rrset.add(_rdata(dns.rdatatype.SOA, _DEFAULT_SOA), 300)
        return rrset


def _rrset(name: dns.name.Name, rdataset: dns.rdataset.Rdataset) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(name, rdataset.rdclass, rdataset.rdtype)
    for rdata in rdataset:
        rrset.add(rdata, rdataset.ttl)
    return rrset


def _recv_exactly(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


@pytest.fixture
def dns_server() -> Iterator[FakeDnsServer]:
    """A running FakeDnsServer with an empty zone; stopped after the test."""
    with FakeDnsServer() as server:
        yield server
