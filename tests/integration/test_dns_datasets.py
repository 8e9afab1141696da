"""The DNS client and the two DNS datasets against a real DNS server on loopback."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest

from bot.config import HostPort
from bot.core.errors import SourceError
from bot.core.observations import Fact, IndicatorKind, Observation, Outcome, SourceFailure
from bot.monitoring.datasets.base import PassiveDnsRecord
from bot.monitoring.datasets.dns_records import DnsRecordsDataset
from bot.monitoring.datasets.resolutions import ResolutionsDataset
from bot.monitoring.dns import DnsAnswer, ResolverDnsClient
from bot.monitoring.dns_mux import MultiplexedDnsClient
from tests.fakes.dns_server import FakeDnsServer

DOMAIN = IndicatorKind.DOMAIN
IP = IndicatorKind.IP
RESOLUTION_FIELDS = frozenset({"A", "AAAA", "CNAME", "status"})
RECORD_FIELDS = frozenset({"NS", "MX", "TXT", "SOA", "status"})
# Generous for answers (never waited for when the server answers), short where a test
# waits for a timeout on purpose.
TIMEOUT = 2.0
SHORT_TIMEOUT = 0.3


ClientFactory = Callable[..., ResolverDnsClient | MultiplexedDnsClient]


@pytest.fixture(params=["resolver", "multiplexed"])
def client_for(request: pytest.FixtureRequest) -> ClientFactory:
    """Every test runs against both clients: dnspython's stock resolver and the fast path."""
    kind = ResolverDnsClient if request.param == "resolver" else MultiplexedDnsClient

    def make(server: FakeDnsServer, timeout: float = TIMEOUT) -> ResolverDnsClient | MultiplexedDnsClient:
        return kind([HostPort(server.host, server.port)], timeout=timeout)

    return make


@pytest.fixture
def client(dns_server: FakeDnsServer, client_for: ClientFactory) -> ResolverDnsClient | MultiplexedDnsClient:
    return client_for(dns_server)


@pytest.fixture
def evil(dns_server: FakeDnsServer) -> FakeDnsServer:
    """A zone for evil.example with every record type the datasets ask for."""
    dns_server.set("evil.example", "A", ["198.51.100.7", "192.0.2.1"])
    dns_server.set("evil.example", "AAAA", ["2001:db8::1"])
    dns_server.set("evil.example", "NS", ["ns1.evil-dns.example.", "ns2.evil-dns.example."])
    dns_server.set("evil.example", "MX", ["10 mail.evil.example.", "20 backup.evil.example."])
    dns_server.set(
        "evil.example", "TXT", ['"v=spf1 " "ip4:192.0.2.0/24 -all"', '"google-site-verification=AbC"']
    )
    dns_server.set(
        "evil.example", "SOA", ["ns1.evil-dns.example. hostmaster.evil.example. 7 3600 600 86400 300"]
    )
    dns_server.set("www.evil.example", "CNAME", ["evil.example."])
    return dns_server


def facts(observation: Observation) -> set[tuple[str, str]]:
    return {(fact.field, fact.value) for fact in observation.facts}


def sources(observation: Observation) -> dict[tuple[str, str], str]:
    return {(fact.field, fact.value): fact.source for fact in observation.facts}


class FakePassiveSource:
    """A passive DNS source that returns fixed rows, or fails with SourceError."""

    def __init__(self, name: str, rows: Sequence[tuple[str, str, str]] = (), error: Exception | None = None):
        self.name = name
        self.rows = rows
        self.error = error
        self.calls: list[tuple[str, IndicatorKind]] = []

    async def lookup(self, indicator: str, kind: IndicatorKind) -> list[PassiveDnsRecord]:
        self.calls.append((indicator, kind))
        if self.error is not None:
            raise self.error
        return [
            PassiveDnsRecord(rrname, rrtype, rdata, None, None, self.name)
            for rrname, rrtype, rdata in self.rows
        ]


# -- the client ---------------------------------------------------------------------------


async def test_client_returns_normalised_records_per_type(
    evil: FakeDnsServer, client: ResolverDnsClient
) -> None:
    expected = {
        "A": ("192.0.2.1", "198.51.100.7"),
        "AAAA": ("2001:db8::1",),
        "NS": ("ns1.evil-dns.example", "ns2.evil-dns.example"),
        "MX": ("10 mail.evil.example", "20 backup.evil.example"),
        "TXT": ("google-site-verification=AbC", "v=spf1 ip4:192.0.2.0/24 -all"),
        "SOA": ("ns1.evil-dns.example hostmaster.evil.example",),
    }
    for rdtype, records in expected.items():
        assert await client.query("evil.example", rdtype) == DnsAnswer(Outcome.RECORDS, records), rdtype
    assert await client.query("www.evil.example", "CNAME") == DnsAnswer(Outcome.RECORDS, ("evil.example",))
    # An alias resolves through its CNAME to the target's addresses.
    assert await client.query("WWW.Evil.Example.", "A") == DnsAnswer(
        Outcome.RECORDS, ("192.0.2.1", "198.51.100.7")
    )


async def test_client_nxdomain_and_no_data(evil: FakeDnsServer, client: ResolverDnsClient) -> None:
    evil.set("deep.sub.evil.example", "A", ["192.0.2.9"])
    evil.set("dangling.evil.example", "CNAME", ["gone.elsewhere.example."])
    assert await client.query("nope.evil.example", "A") == DnsAnswer(Outcome.NXDOMAIN)
    assert await client.query("evil.example", "CNAME") == DnsAnswer(Outcome.NO_DATA)
    # An empty non-terminal exists: no data, not NXDOMAIN.
    assert await client.query("sub.evil.example", "A") == DnsAnswer(Outcome.NO_DATA)
    # An alias to a missing name exists itself: its A lookup is "no data", its CNAME is data.
    assert await client.query("dangling.evil.example", "A") == DnsAnswer(Outcome.NO_DATA)
    assert await client.query("dangling.evil.example", "CNAME") == DnsAnswer(
        Outcome.RECORDS, ("gone.elsewhere.example",)
    )


async def test_client_never_caches(evil: FakeDnsServer, client: ResolverDnsClient) -> None:
    for _ in range(3):
        assert (await client.query("evil.example", "A")).outcome is Outcome.RECORDS
    assert evil.query_count("evil.example", "A") == 3


@pytest.mark.parametrize(
    ("mode", "error"),
    [("servfail", "SERVFAIL from {ns}"), ("refused", "REFUSED from {ns}"), ("formerr", "FORMERR from {ns}")],
)
async def test_client_error_rcodes_name_the_server(
    evil: FakeDnsServer, client: ResolverDnsClient, mode: str, error: str
) -> None:
    evil.set_fault(mode)
    answer = await client.query("evil.example", "A")
    assert answer == DnsAnswer(Outcome.ERROR, (), error.format(ns=evil.nameserver))


async def test_client_timeout_is_an_error_within_the_limit(
    evil: FakeDnsServer, client_for: ClientFactory
) -> None:
    evil.set_fault("timeout")
    started = time.monotonic()
    answer = await client_for(evil, SHORT_TIMEOUT).query("evil.example", "A")
    elapsed = time.monotonic() - started
    assert answer == DnsAnswer(Outcome.ERROR, (), "no answer within 0.3s")
    assert SHORT_TIMEOUT * 0.9 <= elapsed < SHORT_TIMEOUT + 0.5


async def test_client_resends_a_lost_query_once(evil: FakeDnsServer, client_for: ClientFactory) -> None:
    # One attempt may take half the limit: 0.5s, a 0.1s backoff, then a second attempt.
    evil.set_fault("timeout")
    answer = await client_for(evil, 1.0).query("evil.example", "A")
    assert answer == DnsAnswer(Outcome.ERROR, (), "no answer within 1s")
    assert evil.query_count("evil.example", "A", "udp") == 2


async def test_client_slow_answer_within_limit_is_records_beyond_it_error(
    evil: FakeDnsServer, client_for: ClientFactory
) -> None:
    evil.set_fault("slow:0.1")
    assert await client_for(evil, 1.0).query("evil.example", "AAAA") == DnsAnswer(
        Outcome.RECORDS, ("2001:db8::1",)
    )
    evil.set_fault("slow:2")
    started = time.monotonic()
    answer = await client_for(evil, SHORT_TIMEOUT).query("evil.example", "AAAA")
    assert answer.outcome is Outcome.ERROR and answer.records == ()
    assert time.monotonic() - started < SHORT_TIMEOUT + 0.5


async def test_client_truncated_udp_is_retried_over_tcp(
    evil: FakeDnsServer, client: ResolverDnsClient
) -> None:
    evil.set_fault("truncate")
    assert await client.query("evil.example", "A") == DnsAnswer(
        Outcome.RECORDS, ("192.0.2.1", "198.51.100.7")
    )
    assert evil.query_count("evil.example", "A", "udp") == 1
    assert evil.query_count("evil.example", "A", "tcp") == 1


async def test_client_large_answer_arrives_over_tcp(
    dns_server: FakeDnsServer, client: ResolverDnsClient
) -> None:
    # 12 strings of 200 bytes: larger than the 1232-byte EDNS buffer, so the UDP reply is truncated.
    texts = [f'"{index:02d}{"x" * 198}"' for index in range(12)]
    dns_server.set("big.example", "TXT", texts)
    answer = await client.query("big.example", "TXT")
    assert answer.outcome is Outcome.RECORDS
    assert answer.records == tuple(f"{index:02d}{'x' * 198}" for index in range(12))
    assert dns_server.query_count("big.example", "TXT", "tcp") == 1


async def test_client_reply_with_wrong_id_is_an_error_not_records(
    evil: FakeDnsServer, client_for: ClientFactory
) -> None:
    evil.set_fault("garbage")
    answer = await client_for(evil, SHORT_TIMEOUT).query("evil.example", "A")
    assert answer == DnsAnswer(Outcome.ERROR, (), "no answer within 0.3s")


async def test_client_reverse_looks_up_ptr(dns_server: FakeDnsServer, client: ResolverDnsClient) -> None:
    dns_server.set("107.38.126.98.in-addr.arpa", "PTR", ["Host107.Example.NET."])
    dns_server.set(
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", "PTR", ["v6.example.net."]
    )
    assert await client.reverse("98.126.38.107") == DnsAnswer(Outcome.RECORDS, ("host107.example.net",))
    assert await client.reverse("2001:db8::1") == DnsAnswer(Outcome.RECORDS, ("v6.example.net",))
    assert await client.reverse("203.0.113.5") == DnsAnswer(Outcome.NXDOMAIN)
    assert await client.reverse("not-an-ip") == DnsAnswer(Outcome.ERROR, (), "not an IP address: 'not-an-ip'")


async def test_client_bad_name_is_an_error(client: ResolverDnsClient) -> None:
    answer = await client.query("a" * 64 + ".example", "A")
    assert answer.outcome is Outcome.ERROR
    assert answer.error is not None and answer.error.startswith("bad query")


# -- resolutions: domains -----------------------------------------------------------------


async def test_resolutions_domain_observation(evil: FakeDnsServer, client: ResolverDnsClient) -> None:
    dataset = ResolutionsDataset(client)
    assert dataset.name == "resolutions"
    assert dataset.applies_to(DOMAIN) and dataset.applies_to(IP)

    observation = await dataset.collect("evil.example", DOMAIN)

    assert [(read.source, read.fields) for read in observation.reads] == [("dns", RESOLUTION_FIELDS)]
    assert replace(observation, reads=()) == Observation(
        "resolutions",
        frozenset(
            {
                Fact("A", "192.0.2.1"),
                Fact("A", "198.51.100.7"),
                Fact("AAAA", "2001:db8::1"),
                Fact("status", "exists"),
            }
        ),
        RESOLUTION_FIELDS,
        (),
        single_valued=frozenset({"status"}),
    )
    assert {fact.source for fact in observation.facts} == {"dns"}
    alias = await dataset.collect("www.evil.example", DOMAIN)
    assert facts(alias) == {
        ("A", "192.0.2.1"),
        ("A", "198.51.100.7"),
        ("AAAA", "2001:db8::1"),
        ("CNAME", "evil.example"),
        ("status", "exists"),
    }


async def test_observations_ignore_order_ttl_case_and_trailing_dots(
    dns_server: FakeDnsServer, client: ResolverDnsClient
) -> None:
    resolutions, records = ResolutionsDataset(client), DnsRecordsDataset(client)

    def zone(variant: int) -> None:
        if variant == 0:
            dns_server.set("evil.example", "A", ["192.0.2.1", "198.51.100.7"], ttl=300)
            dns_server.set("evil.example", "AAAA", ["2001:db8::1"], ttl=300)
            dns_server.set("evil.example", "NS", ["ns1.evil-dns.example.", "ns2.evil-dns.example."], ttl=300)
            dns_server.set("evil.example", "MX", ["10 mail.evil.example."])
            dns_server.set(
                "evil.example", "SOA", ["ns1.evil-dns.example. h.evil.example. 1 3600 600 86400 300"]
            )
            dns_server.set("evil.example", "TXT", ['"one"', '"two"'])
        else:
            dns_server.set("evil.example", "A", ["198.51.100.7", "192.0.2.1"], ttl=60)
            dns_server.set("evil.example", "AAAA", ["2001:0DB8:0:0:0:0:0:1"], ttl=86400)
            dns_server.set("evil.example", "NS", ["NS2.Evil-DNS.Example", "ns1.EVIL-dns.example."], ttl=5)
            dns_server.set("evil.example", "MX", ["10 MAIL.evil.EXAMPLE"], ttl=1)
            # A new serial and timers are not a change of who runs the zone.
            dns_server.set("evil.example", "SOA", ["NS1.evil-dns.example h.EVIL.example 99 1 2 3 4"], ttl=7)
            dns_server.set("evil.example", "TXT", ['"two"', '"one"'], ttl=9)

    zone(0)
    first = (await resolutions.collect("evil.example", DOMAIN), await records.collect("evil.example", DOMAIN))
    zone(1)
    second = (
        await resolutions.collect("Evil.Example.", DOMAIN),
        await records.collect("EVIL.example", DOMAIN),
    )

    assert first == second
    assert ("NS", "ns2.evil-dns.example") in facts(first[1])
    assert ("SOA", "ns1.evil-dns.example h.evil.example") in facts(first[1])


async def test_changed_and_removed_records_show_in_next_observation(
    evil: FakeDnsServer, client: ResolverDnsClient
) -> None:
    dataset = ResolutionsDataset(client)
    before = await dataset.collect("evil.example", DOMAIN)
    evil.set("evil.example", "A", ["203.0.113.50"])
    evil.remove("evil.example", "AAAA")
    after = await dataset.collect("evil.example", DOMAIN)

    assert facts(before) - facts(after) == {
        ("A", "192.0.2.1"),
        ("A", "198.51.100.7"),
        ("AAAA", "2001:db8::1"),
    }
    assert facts(after) - facts(before) == {("A", "203.0.113.50")}
    # The AAAA lookup said "no data": the field is known, and empty.
    assert after.known_fields == RESOLUTION_FIELDS and not after.failures


async def test_nxdomain_sets_status_and_empties_fields(
    evil: FakeDnsServer, client: ResolverDnsClient
) -> None:
    resolutions = await ResolutionsDataset(client).collect("gone.example", DOMAIN)
    records = await DnsRecordsDataset(client).collect("gone.example", DOMAIN)
    assert facts(resolutions) == {("status", "NXDOMAIN")}
    assert resolutions.known_fields == RESOLUTION_FIELDS and resolutions.failures == ()
    assert facts(records) == {("status", "NXDOMAIN")}
    assert records.known_fields == RECORD_FIELDS and records.failures == ()


async def test_nxdomain_of_the_name_outweighs_another_lookup_failing(
    dns_server: FakeDnsServer, client: ResolverDnsClient
) -> None:
    dns_server.set_fault("servfail", name="gone.example", rdtype="AAAA")
    observation = await ResolutionsDataset(client).collect("gone.example", DOMAIN)
    assert facts(observation) == {("status", "NXDOMAIN")}
    assert observation.known_fields == RESOLUTION_FIELDS
    assert not observation.stale


async def test_removed_name_turns_status_to_nxdomain(evil: FakeDnsServer, client: ResolverDnsClient) -> None:
    dataset = DnsRecordsDataset(client)
    assert ("status", "exists") in facts(await dataset.collect("evil.example", DOMAIN))
    evil.remove("evil.example")
    evil.remove("www.evil.example")
    assert facts(await dataset.collect("evil.example", DOMAIN)) == {("status", "NXDOMAIN")}


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("timeout", "no answer within 0.3s"),
        ("servfail", "SERVFAIL from {ns}"),
        ("refused", "REFUSED from {ns}"),
    ],
)
async def test_failing_server_leaves_every_field_unknown(
    evil: FakeDnsServer, mode: str, reason: str, client_for: ClientFactory
) -> None:
    evil.set_fault(mode)
    client = client_for(evil, SHORT_TIMEOUT)
    reason = reason.format(ns=evil.nameserver)

    resolutions = await ResolutionsDataset(client).collect("evil.example", DOMAIN)
    assert resolutions.facts == frozenset()
    assert resolutions.known_fields == frozenset()
    assert resolutions.failures == (SourceFailure("dns", f"A, AAAA, CNAME: {reason}", RESOLUTION_FIELDS),)
    assert resolutions.failed

    records = await DnsRecordsDataset(client).collect("evil.example", DOMAIN)
    assert records.facts == frozenset() and records.known_fields == frozenset()
    assert records.failures == (SourceFailure("dns", f"MX, NS, SOA, TXT: {reason}", RECORD_FIELDS),)
    assert records.failed


async def test_one_failing_lookup_leaves_only_its_field_unknown(
    evil: FakeDnsServer, client: ResolverDnsClient
) -> None:
    evil.set_fault("servfail", name="evil.example", rdtype="AAAA")
    observation = await ResolutionsDataset(client).collect("evil.example", DOMAIN)
    assert facts(observation) == {("A", "192.0.2.1"), ("A", "198.51.100.7"), ("status", "exists")}
    assert observation.known_fields == frozenset({"A", "CNAME", "status"})
    assert observation.failures == (
        SourceFailure("dns", f"AAAA: SERVFAIL from {evil.nameserver}", frozenset({"AAAA"})),
    )
    assert observation.stale and not observation.failed


async def test_fault_for_one_name_affects_only_that_name(
    evil: FakeDnsServer, client: ResolverDnsClient
) -> None:
    evil.set("other.example", "A", ["203.0.113.9"])
    evil.set_fault("refused", name="Other.Example")
    dataset = ResolutionsDataset(client)

    healthy = await dataset.collect("evil.example", DOMAIN)
    broken = await dataset.collect("other.example", DOMAIN)

    assert healthy.failures == () and healthy.known_fields == RESOLUTION_FIELDS
    assert broken.failed and broken.facts == frozenset()
    assert broken.failures[0].message == f"A, AAAA, CNAME: REFUSED from {evil.nameserver}"


async def test_truncated_udp_still_yields_records_through_tcp(
    evil: FakeDnsServer, client: ResolverDnsClient
) -> None:
    evil.set_fault("truncate")
    observation = await DnsRecordsDataset(client).collect("evil.example", DOMAIN)
    assert not observation.stale
    assert ("TXT", "v=spf1 ip4:192.0.2.0/24 -all") in facts(observation)
    assert ("MX", "20 backup.evil.example") in facts(observation)
    assert evil.query_count("evil.example", transport="tcp") == 4


async def test_garbage_replies_are_failures_not_records(
    evil: FakeDnsServer, client_for: ClientFactory
) -> None:
    evil.set_fault("garbage", name="evil.example")
    observation = await ResolutionsDataset(client_for(evil, SHORT_TIMEOUT)).collect("evil.example", DOMAIN)
    assert observation.facts == frozenset()
    assert observation.failed


# -- resolutions: passive DNS -------------------------------------------------------------


async def test_domain_passive_records_become_pdns_fields(
    evil: FakeDnsServer, client: ResolverDnsClient
) -> None:
    mnemonic = FakePassiveSource(
        "mnemonic",
        [
            ("evil.example", "A", "203.0.113.1"),
            ("evil.example", "AAAA", "2001:DB8:0:0::5"),
            ("Evil.Example.", "CNAME", "Old-Host.Example."),
            ("evil.example", "MX", "10 mx.example"),  # not a resolution
            ("mail.evil.example", "A", "203.0.113.2"),  # another name
        ],
    )
    circl = FakePassiveSource(
        "circl", [("evil.example", "A", "203.0.113.1"), ("evil.example", "A", "203.0.113.3")]
    )
    observation = await ResolutionsDataset(client, [mnemonic, circl]).collect("evil.example", DOMAIN)

    passive = {(field, value) for field, value in facts(observation) if field.startswith("pdns:")}
    assert passive == {
        ("pdns:A", "203.0.113.1"),
        ("pdns:A", "203.0.113.3"),
        ("pdns:AAAA", "2001:db8::5"),
        ("pdns:CNAME", "old-host.example"),
    }
    assert sources(observation)[("pdns:A", "203.0.113.3")] == "circl"
    assert sources(observation)[("pdns:CNAME", "old-host.example")] == "mnemonic"
    assert sources(observation)[("A", "192.0.2.1")] == "dns"
    # Passive DNS is history cut at a row limit: add-only, never "known" (absence means nothing).
    assert observation.known_fields == RESOLUTION_FIELDS
    assert mnemonic.calls == [("evil.example", DOMAIN)]


async def test_failed_passive_source_leaves_pdns_unknown_but_keeps_others(
    evil: FakeDnsServer, client: ResolverDnsClient
) -> None:
    working = FakePassiveSource("mnemonic", [("evil.example", "A", "203.0.113.1")])
    failing = FakePassiveSource("circl", error=SourceError("circl", "HTTP 503"))
    observation = await ResolutionsDataset(client, [working, failing]).collect("evil.example", DOMAIN)

    assert ("pdns:A", "203.0.113.1") in facts(observation)
    assert observation.known_fields == RESOLUTION_FIELDS
    assert observation.failures == (
        SourceFailure("circl", "HTTP 503", frozenset({"pdns:A", "pdns:AAAA", "pdns:CNAME"})),
    )
    assert observation.stale and not observation.failed


async def test_passive_source_bug_is_a_failure_not_a_crash(
    evil: FakeDnsServer, client: ResolverDnsClient
) -> None:
    buggy = FakePassiveSource("virustotal", error=KeyError("data"))
    observation = await ResolutionsDataset(client, [buggy]).collect("evil.example", DOMAIN)
    assert observation.failures == (
        SourceFailure(
            "virustotal", "unexpected error (KeyError)", frozenset({"pdns:A", "pdns:AAAA", "pdns:CNAME"})
        ),
    )
    assert ("A", "192.0.2.1") in facts(observation)


# -- resolutions: IPs ---------------------------------------------------------------------


async def test_ip_observation_has_ptr_and_passive_domains(
    dns_server: FakeDnsServer, client: ResolverDnsClient
) -> None:
    dns_server.set("107.38.126.98.in-addr.arpa", "PTR", ["Mail.Bad-Host.NET."])
    pdns = FakePassiveSource(
        "mnemonic",
        [
            ("Evil.Example.", "A", "98.126.38.107"),
            ("cdn.evil.example", "A", " 98.126.38.107"),
            ("other.example", "A", "98.126.38.108"),  # another IP
            ("evil.example", "NS", "98.126.38.107"),  # not a resolution
            ("evil.example", "A", "not an ip"),
        ],
    )
    dataset = ResolutionsDataset(client, [pdns])

    observation = await dataset.collect("98.126.38.107", IP)

    # Each source's read is its own: the PTR from live DNS, the names from passive DNS.
    assert {(read.source, read.fields, len(read.values)) for read in observation.reads} == {
        ("dns", frozenset({"PTR"}), 1),
        ("mnemonic", frozenset({"domain"}), 2),
    }
    assert replace(observation, reads=()) == Observation(
        "resolutions",
        frozenset(
            {
                Fact("PTR", "mail.bad-host.net"),
                Fact("domain", "evil.example"),
                Fact("domain", "cdn.evil.example"),
            }
        ),
        frozenset({"PTR"}),
        (),
        single_valued=frozenset({"status"}),
    )
    assert sources(observation) == {
        ("PTR", "mail.bad-host.net"): "dns",
        ("domain", "evil.example"): "mnemonic",
        ("domain", "cdn.evil.example"): "mnemonic",
    }
    assert dns_server.query_count("107.38.126.98.in-addr.arpa", "PTR") == 1


async def test_ipv6_passive_rows_compare_canonically(
    dns_server: FakeDnsServer, client: ResolverDnsClient
) -> None:
    pdns = FakePassiveSource(
        "circl", [("v6.evil.example", "AAAA", "2001:0DB8:0000:0000:0000:0000:0000:0001")]
    )
    observation = await ResolutionsDataset(client, [pdns]).collect("2001:db8::1", IP)
    assert facts(observation) == {("domain", "v6.evil.example")}
    assert observation.known_fields == frozenset({"PTR"})  # PTR: NXDOMAIN, known and empty


async def test_ip_with_one_failed_source_keeps_other_domains_but_not_the_field(
    dns_server: FakeDnsServer, client: ResolverDnsClient
) -> None:
    dns_server.set("107.38.126.98.in-addr.arpa", "PTR", ["host.example.net."])
    working = FakePassiveSource("mnemonic", [("evil.example", "A", "98.126.38.107")])
    failing = FakePassiveSource(
        "circl", error=SourceError("circl", "rate limited (HTTP 429), retry after 60s")
    )
    observation = await ResolutionsDataset(client, [working, failing]).collect("98.126.38.107", IP)

    assert facts(observation) == {("PTR", "host.example.net"), ("domain", "evil.example")}
    assert observation.known_fields == frozenset({"PTR"})
    assert observation.failures == (
        SourceFailure("circl", "rate limited (HTTP 429), retry after 60s", frozenset({"domain"})),
    )


async def test_ip_ptr_failure_leaves_ptr_unknown(
    dns_server: FakeDnsServer, client_for: ClientFactory
) -> None:
    dns_server.set_fault("servfail", name="107.38.126.98.in-addr.arpa")
    client = client_for(dns_server)
    observation = await ResolutionsDataset(client).collect("98.126.38.107", IP)
    assert observation.facts == frozenset()
    assert observation.known_fields == frozenset()  # no passive sources: "domain" is not spoken for
    assert observation.failures == (
        SourceFailure("dns", f"PTR: SERVFAIL from {dns_server.nameserver}", frozenset({"PTR"})),
    )
    assert observation.failed


# -- dns_records --------------------------------------------------------------------------


async def test_dns_records_observation(evil: FakeDnsServer, client: ResolverDnsClient) -> None:
    evil.set("xn--bcher-kva.example", "NS", ["NS1.xn--bcher-kva.example."])
    dataset = DnsRecordsDataset(client)
    assert dataset.name == "dns_records"
    assert dataset.applies_to(DOMAIN) and not dataset.applies_to(IP)

    observation = await dataset.collect("evil.example", DOMAIN)

    assert [(read.source, read.fields) for read in observation.reads] == [("dns", RECORD_FIELDS)]
    assert replace(observation, reads=()) == Observation(
        "dns_records",
        frozenset(
            {
                Fact("NS", "ns1.evil-dns.example"),
                Fact("NS", "ns2.evil-dns.example"),
                Fact("MX", "10 mail.evil.example"),
                Fact("MX", "20 backup.evil.example"),
                Fact("TXT", "v=spf1 ip4:192.0.2.0/24 -all"),
                Fact("TXT", "google-site-verification=AbC"),
                Fact("SOA", "ns1.evil-dns.example hostmaster.evil.example"),
                Fact("status", "exists"),
            }
        ),
        RECORD_FIELDS,
        (),
        single_valued=frozenset({"SOA", "status"}),
    )
    idn = await dataset.collect("xn--bcher-kva.example", DOMAIN)
    assert facts(idn) == {("NS", "ns1.xn--bcher-kva.example"), ("status", "exists")}
    assert idn.known_fields == RECORD_FIELDS  # MX, TXT, SOA: no data, known and empty


async def test_dns_records_changed_soa_is_one_new_value(
    evil: FakeDnsServer, client: ResolverDnsClient
) -> None:
    dataset = DnsRecordsDataset(client)
    before = await dataset.collect("evil.example", DOMAIN)
    evil.set(
        "evil.example", "SOA", ["ns1.bulletproof.example. abuse.bulletproof.example. 8 3600 600 86400 300"]
    )
    evil.set("evil.example", "TXT", ['"v=spf1 -all"'])
    after = await dataset.collect("evil.example", DOMAIN)
    assert facts(after) - facts(before) == {
        ("SOA", "ns1.bulletproof.example abuse.bulletproof.example"),
        ("TXT", "v=spf1 -all"),
    }
    assert facts(before) - facts(after) == {
        ("SOA", "ns1.evil-dns.example hostmaster.evil.example"),
        ("TXT", "v=spf1 ip4:192.0.2.0/24 -all"),
        ("TXT", "google-site-verification=AbC"),
    }
