"""The multiplexed DNS client's defences and sockets, against a scripted UDP server on
loopback that answers however the test says: a reply must carry the id and the question
of a query in flight and come from the nameserver's address; ids and source ports are
random; sockets are few, long-lived, and replaced after their query budget."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

import dns.message
import dns.rrset
import pytest

from bot.config import HostPort
from bot.core.observations import Outcome
from bot.monitoring.dns import DnsAnswer
from bot.monitoring.dns_mux import MultiplexedDnsClient

# Given the query and where it came from, the datagrams to send back: (bytes, from_socket)
# where from_socket is "server" (the nameserver's own address) or "other".
Script = Callable[[dns.message.Message], list[tuple[bytes, str]]]


class ScriptedServer:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.other.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries: list[tuple[int, int]] = []  # (query id, client source port)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            query = dns.message.from_wire(wire)
            self.queries.append((query.id, peer[1]))
            for reply, sender in self.script(query):
                (self.sock if sender == "server" else self.other).sendto(reply, peer)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()
        self.other.close()


def answer(query: dns.message.Message, address: str = "192.0.2.1", **changes: object) -> bytes:
    response = dns.message.make_response(query)
    name = query.question[0].name
    response.answer.append(dns.rrset.from_text(name, 300, "IN", "A", address))
    for key, value in changes.items():
        setattr(response, key, value)
    return response.to_wire()


def other_question(query: dns.message.Message) -> bytes:
    """A reply with the query's id, about another name."""
    forged = dns.message.make_query("forged.example", "A")
    forged.id = query.id
    return answer(forged, "203.0.113.66")


@contextlib.contextmanager
def serving(script: Script) -> Iterator[tuple[ScriptedServer, MultiplexedDnsClient]]:
    with ScriptedServer(script) as server:
        yield server, MultiplexedDnsClient([HostPort("127.0.0.1", server.port)], timeout=0.6)


async def test_forged_replies_are_ignored_and_the_real_one_taken() -> None:
    def script(query: dns.message.Message) -> list[tuple[bytes, str]]:
        wrong_id = dns.message.from_wire(answer(query, "203.0.113.1"))
        wrong_id.id = (query.id + 1) % 65536
        return [
            (other_question(query), "server"),  # right id, another question
            (answer(query, "203.0.113.2"), "other"),  # right id and question, wrong source
            (wrong_id.to_wire(), "server"),  # right question, wrong id
            (answer(query), "server"),  # the answer
        ]

    with serving(script) as (server, client):
        assert await client.query("evil.example", "A") == DnsAnswer(Outcome.RECORDS, ("192.0.2.1",))
        await client.aclose()
    assert len(server.queries) == 1


async def test_only_forged_replies_is_no_answer() -> None:
    def script(query: dns.message.Message) -> list[tuple[bytes, str]]:
        return [(other_question(query), "server"), (answer(query, "203.0.113.2"), "other")]

    with serving(script) as (server, client):
        result = await client.query("evil.example", "A")
        await client.aclose()
    assert result == DnsAnswer(Outcome.ERROR, (), "no answer within 0.6s")
    assert len(server.queries) == 2  # the first attempt and one resend, within the limit


async def test_ids_and_source_ports_are_random_and_sockets_few() -> None:
    with serving(lambda query: [(answer(query), "server")]) as (server, client):
        names = [f"host{i}.example" for i in range(200)]
        answers = await asyncio.gather(*(client.query(name, "A") for name in names))
        await client.aclose()
    assert all(a.outcome is Outcome.RECORDS for a in answers)
    ids = [query_id for query_id, _ in server.queries]
    ports = {port for _, port in server.queries}
    assert len(set(ids)) > 180  # 16-bit random ids: a few repeats at most, never a sequence
    assert sorted(ids) != ids
    assert 1 < len(ports) <= 4  # a small pool of long-lived sockets, not one per query


async def test_a_socket_is_replaced_after_its_query_budget() -> None:
    with ScriptedServer(lambda query: [(answer(query), "server")]) as server:
        client = MultiplexedDnsClient(
            [HostPort("127.0.0.1", server.port)], timeout=0.6, sockets_per_server=1, queries_per_socket=10
        )
        for i in range(35):
            assert (await client.query(f"host{i}.example", "A")).outcome is Outcome.RECORDS
        await client.aclose()
    ports = [port for _, port in server.queries]
    assert len(set(ports)) == 4  # 10 + 10 + 10 + 5: a new random port every ten queries
    assert [len(set(ports[n : n + 10])) for n in range(0, 30, 10)] == [1, 1, 1]


async def test_cancelled_lookup_leaves_nothing_in_flight() -> None:
    with serving(lambda query: []) as (_, client):
        task = asyncio.create_task(client.query("slow.example", "A"))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        sockets = [udp for server in client._servers for udp in server.sockets]
        assert sockets and all(not udp.pending for udp in sockets)
        await client.aclose()
