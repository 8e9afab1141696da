"""The whois dataset's sources against real servers on loopback: WHOIS, RDAP, TLS, and the dataset."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from bot.config import HostPort
from bot.core.errors import SourceError, SourceRefused
from bot.core.observations import Fact, IndicatorKind, Outcome
from bot.monitoring.datasets.whois import WhoisDataset
from bot.monitoring.dns import DnsAnswer
from bot.monitoring.sources.asn import CymruAsnLookup
from bot.monitoring.sources.rdap import RdapClient
from bot.monitoring.sources.tls_probe import TlsCertificateProbe
from bot.monitoring.sources.whois import WhoisClient
from tests.fakes.whois_server import (
    FakeRdapServer,
    FakeTlsServer,
    FakeWhoisServer,
    Mode,
    Route,
    iana_text,
    ip_network_document,
    not_found_text,
    registrar_text,
    registry_text,
)

StartWhois = Callable[..., FakeWhoisServer]
DOMAIN = "evil.com"


def values(facts: object, field: str) -> list[str]:
    return sorted(fact.value for fact in facts if fact.field == field)  # type: ignore[attr-defined]


class Chain:
    """IANA -> registry -> registrar, three fake servers and a client wired to them."""

    def __init__(self, start: StartWhois, registry_reply: str | None = None) -> None:
        self.iana = start({"com": iana_text("com", "whois.registry.test")})
        self.registry = start({DOMAIN: registry_reply or registry_text(DOMAIN, "whois.registrar.test")})
        self.registrar = start({DOMAIN: registrar_text(DOMAIN)})
        self.hosts = {
            "whois.registry.test": self.registry.address,
            "whois.registrar.test": self.registrar.address,
            # Must never be dialled: it is the monitored domain's own host.
            "whois.evil.com": self.registrar.address,
        }

    def client(self, timeout: float = 1.0) -> WhoisClient:
        return WhoisClient(None, timeout, iana=self.iana.address, hosts=self.hosts)


# -- WHOIS referrals -------------------------------------------------------------------------


async def test_whois_follows_iana_registry_registrar_chain(whois_server: StartWhois) -> None:
    chain = Chain(whois_server)
    record = await chain.client().lookup("Evil.COM.")
    assert (chain.iana.queries, chain.registry.queries, chain.registrar.queries) == (
        ["com"],
        [DOMAIN],
        [DOMAIN],
    )
    assert record.server == "whois.registrar.test"
    assert values(record.facts, "registrant_org") == ["Evil Corp Ltd"]
    assert values(record.facts, "registrant_email") == ["boss@evil-corp.test"]
    assert values(record.facts, "registrar") == ["Evil Registrar, LLC"]
    assert values(record.facts, "name_server") == ["ns1.evil-dns.test", "ns2.evil-dns.test"]
    assert values(record.facts, "status") == ["clientDeleteProhibited", "clientTransferProhibited"]
    assert record.unknown_fields == frozenset()


async def test_whois_follows_the_queried_records_registrar_in_a_multi_record_reply(
    whois_server: StartWhois,
) -> None:
    # The registry answers with a look-alike's record first; its registrar is never asked.
    lookalike = (
        "   Domain Name: EVIL.COM.LOOKALIKE.TEST\r\n   Registrar: Shady Names LLC\r\n"
        "   Registrar WHOIS Server: whois.shady.test\r\n   Name Server: NS1.SHADY.TEST\r\n\r\n"
    )
    chain = Chain(whois_server, registry_reply=lookalike + registry_text(DOMAIN, "whois.registrar.test"))
    shady = whois_server({DOMAIN: registrar_text(DOMAIN, org="Someone Else")})
    chain.hosts["whois.shady.test"] = shady.address
    record = await chain.client().lookup(DOMAIN)
    assert shady.queries == [] and chain.registrar.queries == [DOMAIN]
    assert values(record.facts, "registrar") == ["Evil Registrar, LLC"]
    assert values(record.facts, "name_server") == ["ns1.evil-dns.test", "ns2.evil-dns.test"]


async def test_whois_throttled_registry_is_a_refusal_not_a_free_domain(whois_server: StartWhois) -> None:
    chain = Chain(whois_server, registry_reply="%% Too many requests...\n\n%% No entries found.\n")
    with pytest.raises(SourceRefused, match=r"whois\.registry\.test refused the query"):
        await chain.client().lookup(DOMAIN)
    assert chain.registrar.queries == []


async def test_whois_asks_iana_once_per_tld(whois_server: StartWhois) -> None:
    chain = Chain(whois_server)
    client = chain.client()
    first = await client.lookup(DOMAIN)
    second = await client.lookup(DOMAIN)
    assert first == second
    assert chain.iana.queries == ["com"]
    assert chain.registry.queries == [DOMAIN, DOMAIN]


async def test_whois_registrar_failure_unknowns_only_registrant_fields(whois_server: StartWhois) -> None:
    chain = Chain(whois_server)
    chain.registrar.mode = Mode.EMPTY
    observation = await WhoisDataset(chain.client(), None, None).collect(DOMAIN, IndicatorKind.DOMAIN)
    assert values(observation.facts, "registrar") == ["Evil Registrar, LLC"]
    assert "registrant_org" not in observation.known_fields
    assert "registrant_email" not in observation.known_fields
    assert {"registrar", "name_server", "status", "creation_date"} <= observation.known_fields
    (failure,) = observation.failures
    assert failure.fields == frozenset({"registrant_org", "registrant_email"})
    assert "registrar" in failure.message and not observation.failed


async def test_whois_uses_registry_text_when_registrar_says_less(whois_server: StartWhois) -> None:
    chain = Chain(whois_server)
    chain.registrar.replies[DOMAIN] = "Domain Name: evil.com\nRegistrar: Evil Registrar, LLC\n"
    record = await chain.client().lookup(DOMAIN)
    assert record.server == "whois.registry.test"
    assert values(record.facts, "name_server") == ["ns1.evil-dns.test", "ns2.evil-dns.test"]
    assert chain.registrar.queries == [DOMAIN]


async def test_whois_not_registered_is_data_and_stops_the_chain(whois_server: StartWhois) -> None:
    chain = Chain(whois_server, registry_reply=not_found_text(DOMAIN))
    observation = await WhoisDataset(chain.client(), None, None).collect(DOMAIN, IndicatorKind.DOMAIN)
    assert observation.facts == frozenset({Fact("status", "not registered")})
    assert "registrar" in observation.known_fields and not observation.failures
    assert chain.registrar.queries == []


async def test_whois_never_follows_a_referral_to_the_monitored_domain(whois_server: StartWhois) -> None:
    chain = Chain(whois_server, registry_reply=registry_text(DOMAIN, "whois.evil.com"))
    record = await chain.client().lookup(DOMAIN)
    assert record.server == "whois.registry.test"
    assert chain.registrar.queries == []


async def test_whois_tld_without_server_is_permanent_error(whois_server: StartWhois) -> None:
    iana = whois_server({"zz": "% IANA WHOIS server\n\ndomain: ZZ\nstatus: ACTIVE\n"})
    with pytest.raises(SourceError, match="no WHOIS server") as caught:
        await WhoisClient(None, 1.0, iana=iana.address).lookup("evil.zz")
    assert caught.value.transient is False


async def test_whois_server_override_asks_only_that_server(whois_server: StartWhois) -> None:
    chain = Chain(whois_server)
    client = WhoisClient(chain.registry.address, 1.0, iana=chain.iana.address, hosts=chain.hosts)
    record = await client.lookup(DOMAIN)
    assert chain.registry.queries == [DOMAIN]
    assert chain.iana.queries == [] and chain.registrar.queries == []
    assert values(record.facts, "registrar") == ["Evil Registrar, LLC"]
    assert record.server == str(chain.registry.address)


# -- WHOIS failure modes ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", [Mode.CLOSE_EARLY, Mode.HANG, Mode.EMPTY])
async def test_whois_faulty_server_is_source_error_without_facts(
    whois_server: StartWhois, mode: Mode
) -> None:
    server = whois_server({DOMAIN: registry_text(DOMAIN)})
    server.mode = mode
    dataset = WhoisDataset(WhoisClient(server.address, timeout=0.3), None, None)
    observation = await dataset.collect(DOMAIN, IndicatorKind.DOMAIN)
    assert observation.failed
    assert observation.facts == frozenset() and observation.known_fields == frozenset()
    assert observation.failures[0].source == "whois"
    assert server.queries == [DOMAIN]


async def test_whois_hang_ends_at_the_timeout(whois_server: StartWhois) -> None:
    server = whois_server({DOMAIN: registry_text(DOMAIN)})
    server.mode = Mode.HANG
    with pytest.raises(SourceError, match=r"within 0\.2s"):
        await WhoisClient(server.address, timeout=0.2).query(server.address, DOMAIN)


async def test_whois_reply_without_fields_is_error_not_removal(whois_server: StartWhois) -> None:
    server = whois_server({}, default="%% Nothing to see here\n")
    observation = await WhoisDataset(WhoisClient(server.address, 1.0), None, None).collect(
        DOMAIN, IndicatorKind.DOMAIN
    )
    assert observation.failed and "no WHOIS fields" in observation.failures[0].message


async def test_whois_limit_notice_is_a_refusal_not_removal(whois_server: StartWhois) -> None:
    server = whois_server({}, default="%% Connection limit exceeded, try later\n")
    observation = await WhoisDataset(WhoisClient(server.address, 1.0), None, None).collect(
        DOMAIN, IndicatorKind.DOMAIN
    )
    assert observation.failed and "refused the query" in observation.failures[0].message


async def test_whois_reply_size_is_capped(whois_server: StartWhois) -> None:
    server = whois_server({DOMAIN: registry_text(DOMAIN) * 50})
    with pytest.raises(SourceError, match="larger than"):
        await WhoisClient(server.address, 1.0, max_bytes=10_000).lookup(DOMAIN)


async def test_whois_connection_refused_is_source_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused
        with pytest.raises(SourceError, match="connection failed"):
            await WhoisClient(HostPort("127.0.0.1", port), 1.0).lookup(DOMAIN)


async def test_whois_updated_date_change_gives_identical_observation(whois_server: StartWhois) -> None:
    server = whois_server({DOMAIN: registry_text(DOMAIN)})
    dataset = WhoisDataset(WhoisClient(server.address, 1.0), None, None)
    first = await dataset.collect(DOMAIN, IndicatorKind.DOMAIN)
    server.replies[DOMAIN] = registry_text(
        DOMAIN, updated="2025-02-02T02:02:02Z", last_update="2025-02-03T00:00:00Z"
    )
    second = await dataset.collect(DOMAIN, IndicatorKind.DOMAIN)
    assert first == second and first.facts
    server.replies[DOMAIN] = registry_text(DOMAIN, registrar="Other Registrar Inc.")
    third = await dataset.collect(DOMAIN, IndicatorKind.DOMAIN)
    assert values(third.facts, "registrar") == ["Other Registrar Inc."]


# -- RDAP ------------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def rdap(rdap_server: FakeRdapServer) -> AsyncIterator[RdapClient]:
    client = RdapClient(rdap_server.base_url, timeout=1.0)
    yield client
    await client.close()


async def test_rdap_ip_network_facts(rdap_server: FakeRdapServer, rdap: RdapClient) -> None:
    rdap_server.json("/ip/192.0.2.1", ip_network_document())
    facts = await rdap.network_facts("192.0.2.1")
    assert sorted((f.field, f.value) for f in facts) == [
        ("cidr", "192.0.2.0/24"),
        ("country", "US"),
        ("handle", "NET-192-0-2-0-1"),
        ("network_name", "EVIL-HOSTING-NET"),
        ("org", "Evil Hosting Inc."),
    ]
    assert rdap_server.requests == ["/ip/192.0.2.1"]


async def test_rdap_follows_redirect_on_the_same_host(rdap_server: FakeRdapServer, rdap: RdapClient) -> None:
    rdap_server.redirect("/ip/192.0.2.1", "/arin/registry/ip/192.0.2.1")
    rdap_server.json("/arin/registry/ip/192.0.2.1", ip_network_document())
    facts = await rdap.network_facts("192.0.2.1")
    assert values(facts, "handle") == ["NET-192-0-2-0-1"]
    assert rdap_server.requests == ["/ip/192.0.2.1", "/arin/registry/ip/192.0.2.1"]


async def test_rdap_refuses_plain_http_redirect_to_another_host(
    rdap_server: FakeRdapServer, rdap: RdapClient
) -> None:
    port = rdap_server.base_url.rsplit(":", 1)[1].rstrip("/")
    rdap_server.redirect("/ip/192.0.2.1", f"http://127.0.0.2:{port}/ip/192.0.2.1")
    with pytest.raises(SourceError, match="refused redirect"):
        await rdap.network_facts("192.0.2.1")
    assert rdap_server.requests == ["/ip/192.0.2.1"]


async def test_rdap_stops_after_three_redirects(rdap_server: FakeRdapServer, rdap: RdapClient) -> None:
    rdap_server.redirect("/ip/192.0.2.1", "/ip/192.0.2.1")
    with pytest.raises(SourceError, match="more than 3 redirects"):
        await rdap.network_facts("192.0.2.1")
    assert len(rdap_server.requests) == 4


async def test_rdap_404_is_permanent_no_record(rdap_server: FakeRdapServer, rdap: RdapClient) -> None:
    with pytest.raises(SourceError, match="no RDAP record") as caught:
        await rdap.network_facts("192.0.2.1")
    assert caught.value.transient is False


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [(500, b"oops", "HTTP 500"), (200, b"{not json", "malformed JSON"), (200, b"[]", "not an RDAP")],
)
async def test_rdap_bad_replies_are_source_errors(
    rdap_server: FakeRdapServer, rdap: RdapClient, status: int, body: bytes, message: str
) -> None:
    rdap_server.routes["/ip/192.0.2.1"] = Route(status, body)
    with pytest.raises(SourceError, match=message):
        await rdap.network_facts("192.0.2.1")


# -- the dataset for an IP: RDAP + ASN -------------------------------------------------------


class FakeTxt:
    def __init__(self, answers: dict[str, DnsAnswer]) -> None:
        self.answers = answers
        self.names: list[str] = []

    async def __call__(self, name: str) -> DnsAnswer:
        self.names.append(name)
        return self.answers.get(name, DnsAnswer(Outcome.NXDOMAIN))


CYMRU = {
    "1.2.0.192.origin.asn.cymru.com": DnsAnswer(
        Outcome.RECORDS,
        ("64500 | 192.0.2.0/24 | US | arin | 2019-01-01", "64501 | 192.0.0.0/16 | US | arin | 2010"),
    ),
    "AS64500.asn.cymru.com": DnsAnswer(
        Outcome.RECORDS, ("64500 | US | arin | 2019-01-01 | EVIL-HOSTING, US",)
    ),
}


async def test_cymru_asn_lookup_queries_origin_then_name() -> None:
    txt = FakeTxt(CYMRU)
    facts = await CymruAsnLookup(txt).asn_facts("192.0.2.1")
    assert txt.names == ["1.2.0.192.origin.asn.cymru.com", "AS64500.asn.cymru.com"]
    assert sorted((f.field, f.value) for f in facts) == [("as_name", "EVIL-HOSTING, US"), ("asn", "AS64500")]


async def test_cymru_asn_unrouted_ip_is_no_facts_and_dns_error_is_source_error() -> None:
    assert await CymruAsnLookup(FakeTxt({})).asn_facts("192.0.2.1") == []
    failing = FakeTxt({"1.2.0.192.origin.asn.cymru.com": DnsAnswer(Outcome.ERROR, (), "SERVFAIL")})
    with pytest.raises(SourceError, match="SERVFAIL"):
        await CymruAsnLookup(failing).asn_facts("192.0.2.1")


async def test_ip_dataset_combines_rdap_and_asn(rdap_server: FakeRdapServer, rdap: RdapClient) -> None:
    rdap_server.json("/ip/192.0.2.1", ip_network_document())
    dataset = WhoisDataset(WhoisClient(None, 1.0), rdap, CymruAsnLookup(FakeTxt(CYMRU)))
    assert dataset.applies_to(IndicatorKind.IP) and dataset.applies_to(IndicatorKind.DOMAIN)
    observation = await dataset.collect("192.0.2.1", IndicatorKind.IP)
    assert values(observation.facts, "asn") == ["AS64500"]
    assert values(observation.facts, "cidr") == ["192.0.2.0/24"]
    assert observation.known_fields == frozenset(
        {"network_name", "handle", "cidr", "org", "country", "asn", "as_name"}
    )
    assert observation.single_valued >= {"asn", "as_name", "network_name", "org", "registrar"}
    assert "cidr" not in observation.single_valued and "name_server" not in observation.single_valued
    assert not observation.failures


async def test_ip_dataset_rdap_failure_unknowns_only_rdap_fields(
    rdap_server: FakeRdapServer, rdap: RdapClient
) -> None:
    rdap_server.routes["/ip/192.0.2.1"] = Route(503, b"busy")
    dataset = WhoisDataset(WhoisClient(None, 1.0), rdap, CymruAsnLookup(FakeTxt(CYMRU)))
    observation = await dataset.collect("192.0.2.1", IndicatorKind.IP)
    assert observation.known_fields == frozenset({"asn", "as_name"})
    assert values(observation.facts, "asn") == ["AS64500"]
    (failure,) = observation.failures
    assert failure.source == "rdap" and "HTTP 503" in failure.message
    assert failure.fields == frozenset({"network_name", "handle", "cidr", "org", "country"})
    assert not observation.failed


async def test_ip_dataset_asn_failure_unknowns_only_asn_fields(
    rdap_server: FakeRdapServer, rdap: RdapClient
) -> None:
    rdap_server.json("/ip/192.0.2.1", ip_network_document())
    failing = FakeTxt({"1.2.0.192.origin.asn.cymru.com": DnsAnswer(Outcome.ERROR, (), "timeout")})
    observation = await WhoisDataset(WhoisClient(None, 1.0), rdap, CymruAsnLookup(failing)).collect(
        "192.0.2.1", IndicatorKind.IP
    )
    assert "asn" not in observation.known_fields and "handle" in observation.known_fields
    assert observation.failures[0].source == "asn"
    assert observation.failures[0].fields == frozenset({"asn", "as_name"})


# -- TLS probe -------------------------------------------------------------------------------


async def test_tls_probe_reads_the_served_certificate(tls_server: FakeTlsServer) -> None:
    facts = await TlsCertificateProbe(port=tls_server.port, timeout=1.0).certificate_facts(tls_server.host)
    assert values(facts, "tls_fingerprint") == [hashlib.sha256(tls_server.der).hexdigest()]
    assert (
        values(facts, "tls_subject") == [tls_server.subject] == ["O=Watchpost Test,CN=probe.watchpost.test"]
    )
    assert values(facts, "tls_issuer") == [tls_server.subject]
    assert values(facts, "tls_san") == ["127.0.0.1", "probe.watchpost.test", "www.probe.watchpost.test"]
    assert tls_server.handshakes == 1


async def test_tls_probe_refused_and_silent_ports_are_source_errors() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        with pytest.raises(SourceError):
            await TlsCertificateProbe(port=closed.getsockname()[1], timeout=1.0).certificate_facts(
                "127.0.0.1"
            )
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts TCP, never speaks TLS
        probe = TlsCertificateProbe(port=silent.getsockname()[1], timeout=0.2)
        with pytest.raises(SourceError, match=r"no handshake within 0\.2s"):
            await probe.certificate_facts("127.0.0.1")


async def test_whois_of_a_subdomain_asks_for_its_registered_domain(whois_server: StartWhois) -> None:
    server = whois_server({DOMAIN: registry_text(DOMAIN)})
    observation = await WhoisDataset(WhoisClient(server.address, 1.0), None, None).collect(
        f"login.portal.{DOMAIN}", IndicatorKind.DOMAIN
    )
    assert server.queries == [DOMAIN]
    assert not observation.failures and ("registrar" in {f.field for f in observation.facts})
