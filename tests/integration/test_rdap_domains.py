"""RDAP for domains against the loopback RDAP service (bootstrap, registries, registrars)
and, where a TLD has none, the loopback WHOIS server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from bot.core.errors import SourceError
from bot.core.observations import IndicatorKind
from bot.monitoring.datasets.whois import WhoisDataset
from bot.monitoring.diff import diff_observation
from bot.monitoring.sources.rdap_domains import RdapDomainClient
from bot.monitoring.sources.whois import WhoisClient
from tests.fakes.http_sources import FakeHttpSources
from tests.fakes.rdap_documents import (
    empty_registrant,
    nl_domain,
    registrant_entity,
    registrar_domain,
    registry_domain,
    rfc9537_redactions,
)
from tests.fakes.whois_corpus import by_field
from tests.fakes.whois_server import FakeWhoisServer, registrar_text, registry_text

StartWhois = Callable[..., FakeWhoisServer]
DOMAIN = "evil.com"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
# What the WHOIS chain (tests/fakes/whois_server.py) says of evil.com, field for field.
EVIL_FACTS = {
    "registrar": ["Evil Registrar, LLC"],
    "registrant_org": ["Evil Corp Ltd"],
    "registrant_email": ["boss@evil-corp.test"],
    "creation_date": ["2021-03-04"],
    "expiration_date": ["2026-03-04"],
    "name_server": ["ns1.evil-dns.test", "ns2.evil-dns.test"],
    "status": ["clientDeleteProhibited", "clientTransferProhibited"],
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest_asyncio.fixture
async def rdap(http_sources: FakeHttpSources, clock: Clock) -> AsyncIterator[RdapDomainClient]:
    """A .com registry linking to its registrar, a .org registry that redacts, .nl with no link."""
    fake = http_sources
    fake.rdap_tlds.update({"com": "verisign", "net": "verisign", "org": "pir", "nl": "sidn"})
    related = fake.registrar_url("evilreg", DOMAIN)
    fake.rdap_registry_domains[("verisign", DOMAIN)] = registry_domain(DOMAIN, related=related)
    fake.rdap_registrar_domains[("evilreg", DOMAIN)] = registrar_domain(
        DOMAIN, registrant_entity("Evil Corp Ltd", "Boss@Evil-Corp.test")
    )
    client = RdapDomainClient(fake.url("rdapdns"), timeout=2.0, clock=clock)
    yield client
    await client.close()


async def test_registry_then_registrar_give_the_facts_whois_gives(
    rdap: RdapDomainClient, http_sources: FakeHttpSources, whois_server: StartWhois
) -> None:
    record = await rdap.lookup(DOMAIN)
    assert record is not None and record.note is None
    assert by_field(record.facts) == EVIL_FACTS
    assert {fact.source for fact in record.facts} == {"rdap"}
    # Read, not stored: the registrar's IANA ID, the last change, DNSSEC.
    assert (record.registrar_iana_id, record.updated, record.dnssec) == ("9999", "2024-08-14", False)
    paths = [r.path for r in http_sources.requests_for("rdapdns")]
    assert paths == ["/rdapdns/dns.json", f"/rdapdns/registry/verisign/domain/{DOMAIN}",
                     f"/rdapdns/registrar/evilreg/domain/{DOMAIN}"]  # fmt: skip
    # The same domain over WHOIS (registry, then registrar) is the same facts.
    registry = whois_server({DOMAIN: registry_text(DOMAIN)})
    registrar = whois_server({DOMAIN: registrar_text(DOMAIN)})
    whois = WhoisClient(registry.address, 1.0, hosts={"whois.registrar.test": registrar.address})
    over_whois = await whois.lookup(DOMAIN)
    assert by_field(over_whois.facts) == {
        k: v for k, v in EVIL_FACTS.items() if not k.startswith("registrant")
    }


async def test_a_switch_between_whois_and_rdap_is_no_change(
    rdap: RdapDomainClient, http_sources: FakeHttpSources, whois_server: StartWhois
) -> None:
    iana = whois_server({"com": "refer: whois.registry.test\n"})
    registry = whois_server({DOMAIN: registry_text(DOMAIN)})
    registrar = whois_server({DOMAIN: registrar_text(DOMAIN)})
    whois = WhoisClient(
        None,
        1.0,
        iana=iana.address,
        hosts={"whois.registry.test": registry.address, "whois.registrar.test": registrar.address},
    )
    over_whois = await WhoisDataset(whois, None, None).collect(DOMAIN, IndicatorKind.DOMAIN)
    over_rdap = await WhoisDataset(whois, None, None, rdap_domains=rdap).collect(DOMAIN, IndicatorKind.DOMAIN)
    assert not over_whois.failures and not over_rdap.failures
    assert {f.source for f in over_whois.facts} == {"whois"} and {f.source for f in over_rdap.facts} == {
        "rdap"
    }
    baseline = diff_observation(None, over_whois, now=NOW, previous_check_at=None)
    for later in (over_rdap, over_whois, over_rdap):  # back and forth: never a change
        result = diff_observation(baseline.state, later, now=NOW + timedelta(hours=1), previous_check_at=NOW)
        assert result.changes == []
        baseline = result


@pytest.mark.parametrize(
    ("registrant", "redacted"),
    [
        (registrant_entity("REDACTED FOR PRIVACY", "REDACTED FOR PRIVACY"), None),
        (registrant_entity("Data Protected", "Data Protected"), None),
        (registrant_entity(None, None), None),
        (empty_registrant(), None),
        # RFC 9537: the reply says which fields it withheld (here with placeholder values left in).
        (
            registrant_entity("Example Holdings", "owner@example.test"),
            rfc9537_redactions("Registrant Organization", "Registrant Email"),
        ),
    ],
    ids=["redacted-for-privacy", "data-protected", "no-org-no-email", "empty-vcard", "rfc9537"],
)
async def test_withheld_registrants_are_no_value(
    rdap: RdapDomainClient, http_sources: FakeHttpSources, registrant: dict[str, object], redacted: object
) -> None:
    http_sources.rdap_registry_domains[("pir", "shady.org")] = registry_domain(
        "shady.org", related=http_sources.registrar_url("pirreg", "shady.org")
    )
    document = registrar_domain("shady.org", registrant)
    if redacted is not None:
        document["redacted"] = redacted
    http_sources.rdap_registrar_domains[("pirreg", "shady.org")] = document
    record = await rdap.lookup("shady.org")
    assert record is not None and record.note is None
    facts = by_field(record.facts)
    assert "registrant_org" not in facts and "registrant_email" not in facts
    assert facts["registrar"] == ["Evil Registrar, LLC"]


async def test_a_registry_without_related_link_is_the_only_source(
    rdap: RdapDomainClient, http_sources: FakeHttpSources
) -> None:
    http_sources.rdap_registry_domains[("sidn", "fietsen.nl")] = nl_domain("fietsen.nl")
    record = await rdap.lookup("fietsen.nl")
    assert record is not None
    assert by_field(record.facts) == {
        "registrar": ["Hostnet B.V."],
        "creation_date": ["2001-05-16"],  # 00:00 at +02:00 is the day before in UTC
        "name_server": ["ns1.hostpoint-dns.example", "ns2.hostpoint-dns.example"],
        "status": ["ok"],  # RDAP "active" is EPP "ok", as WHOIS writes it
    }
    assert record.dnssec is True and record.registrar_iana_id is None


async def test_404_from_the_registry_is_not_registered(rdap: RdapDomainClient) -> None:
    record = await rdap.lookup("nobody-holds-this.com")
    assert record is not None and by_field(record.facts) == {"status": ["not registered"]}


@pytest.mark.parametrize("fault", ["429", "500"])
async def test_registry_errors_fail_the_dataset_without_change(
    rdap: RdapDomainClient, http_sources: FakeHttpSources, fault: str
) -> None:
    http_sources.inject("rdapdns", fault, only=f"registry/verisign/domain/{DOMAIN}")
    with pytest.raises(SourceError) as raised:
        await rdap.lookup(DOMAIN)
    assert raised.value.transient
    observation = await WhoisDataset(WhoisClient(None, 1.0), None, None, rdap_domains=rdap).collect(
        DOMAIN, IndicatorKind.DOMAIN
    )
    assert observation.failed


async def test_a_failing_registrar_leaves_the_registrant_unknown(
    rdap: RdapDomainClient, http_sources: FakeHttpSources
) -> None:
    http_sources.inject("rdapdns", "500", only="registrar/evilreg")
    observation = await WhoisDataset(WhoisClient(None, 1.0), None, None, rdap_domains=rdap).collect(
        DOMAIN, IndicatorKind.DOMAIN
    )
    assert not observation.failed
    assert {"registrant_org", "registrant_email"}.isdisjoint(observation.known_fields)
    assert {"registrar", "name_server", "status"} <= observation.known_fields
    assert "registrar 127.0.0.1" in observation.failures[0].message
    # Against a baseline that had a registrant: nothing removed.
    http_sources.clear("rdapdns")
    dataset = WhoisDataset(WhoisClient(None, 1.0), None, None, rdap_domains=rdap)
    full = await dataset.collect(DOMAIN, IndicatorKind.DOMAIN)
    assert {"registrant_org", "registrant_email"} <= full.known_fields
    base = diff_observation(None, full, now=NOW, previous_check_at=None)
    for _ in range(2):
        assert diff_observation(base.state, observation, now=NOW, previous_check_at=NOW).changes == []


async def test_a_link_to_plain_http_elsewhere_is_not_followed(
    rdap: RdapDomainClient, http_sources: FakeHttpSources
) -> None:
    http_sources.rdap_registry_domains[("verisign", "lure.com")] = registry_domain(
        "lure.com", related="http://registrar.example/domain/lure.com"
    )
    record = await rdap.lookup("lure.com")
    assert record is not None and record.note is not None and "refused" in record.note
    assert record.unknown_fields == {"registrant_org", "registrant_email"}
    assert not any("registrar.example" in r.path for r in http_sources.requests)


async def test_a_tld_without_rdap_asks_whois(
    rdap: RdapDomainClient, http_sources: FakeHttpSources, whois_server: StartWhois
) -> None:
    server = whois_server(
        {"baeckerei.de": "Domain: baeckerei.de\nNserver: ns1.example.net\nStatus: connect\n"}
    )
    assert await rdap.lookup("baeckerei.de") is None
    observation = await WhoisDataset(WhoisClient(server.address, 1.0), None, None, rdap_domains=rdap).collect(
        "www.baeckerei.de", IndicatorKind.DOMAIN
    )
    assert by_field(observation.facts) == {"name_server": ["ns1.example.net"], "status": ["connect"]}
    assert server.queries == ["baeckerei.de"]


async def test_the_bootstrap_is_fetched_once_a_day(
    rdap: RdapDomainClient, http_sources: FakeHttpSources, clock: Clock
) -> None:
    def fetches() -> int:
        return sum(r.path == "/rdapdns/dns.json" for r in http_sources.requests)

    for _ in range(3):
        await rdap.lookup(DOMAIN)
    assert fetches() == 1
    clock.now += 24 * 3600
    http_sources.rdap_tlds.pop("com")  # the registry left RDAP: the next day's file says so
    assert await rdap.lookup(DOMAIN) is None
    assert fetches() == 2


async def test_an_unreachable_bootstrap_falls_back_to_whois_and_keeps_a_known_file(
    rdap: RdapDomainClient, http_sources: FakeHttpSources, clock: Clock
) -> None:
    http_sources.inject("rdapdns", "500", only="dns.json")
    assert await rdap.lookup(DOMAIN) is None  # no file yet: WHOIS
    http_sources.clear("rdapdns")
    clock.now += 301
    assert await rdap.lookup(DOMAIN) is not None
    http_sources.inject("rdapdns", "500", only="dns.json")
    clock.now += 24 * 3600
    assert await rdap.lookup(DOMAIN) is not None  # the file in hand is kept


async def test_idn_domains_are_asked_in_punycode(
    rdap: RdapDomainClient, http_sources: FakeHttpSources
) -> None:
    http_sources.rdap_registry_domains[("verisign", "xn--bcher-kva.com")] = registry_domain(
        "xn--bcher-kva.com"
    )
    record = await rdap.lookup("bücher.com")
    assert record is not None and by_field(record.facts)["registrar"] == ["Evil Registrar, LLC"]
