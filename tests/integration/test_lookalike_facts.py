"""What a lookalike alert knows at once, from the loopback DNS and WHOIS servers: where it
resolves, its MX, registrar and creation date; failures shown as unknown, never raised."""

from __future__ import annotations

from collections.abc import Callable

from bot.config import parse_host_port
from bot.monitoring.datasets.whois import WhoisDataset
from bot.monitoring.dns_mux import MultiplexedDnsClient
from bot.monitoring.sources.whois import WhoisClient
from bot.watches.enrich import DomainFactsLookup
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.whois_server import FakeWhoisServer, registry_text

DOMAIN = "interfaxru.com"


async def test_lookalike_facts_from_dns_and_whois(
    dns_server: FakeDnsServer, whois_server: Callable[..., FakeWhoisServer]
) -> None:
    dns_server.set(DOMAIN, "A", ["203.0.113.7"])
    dns_server.set(DOMAIN, "AAAA", ["2001:db8::7"])
    dns_server.set(DOMAIN, "MX", ["10 mx.interfaxru.com."])
    whois = whois_server({DOMAIN: registry_text(DOMAIN, registrar="Lookalike Registrar Ltd")})
    dns = MultiplexedDnsClient((parse_host_port(dns_server.nameserver, 53),), timeout=1.0)
    try:
        lookup = DomainFactsLookup(dns, WhoisDataset(WhoisClient(whois.address, 1.0), None, None))
        facts = await lookup.facts(DOMAIN)
        assert facts.addresses == ("203.0.113.7", "2001:db8::7")
        assert facts.mail_servers == ("10 mx.interfaxru.com",)
        assert facts.registrar == "Lookalike Registrar Ltd"
        assert facts.created is not None and facts.created.startswith("2021-03-04")

        # Not registered anywhere: no addresses, no MX; DNS down: unknown, not an error.
        nothing = await DomainFactsLookup(dns).facts("nothing-here.com")
        assert nothing.addresses == () and nothing.mail_servers == () and nothing.registrar is None
        dns_server.set_fault("servfail")
        failing = await DomainFactsLookup(dns, timeout=2.0).facts(DOMAIN)
        assert failing.addresses is None and failing.mail_servers is None
    finally:
        await dns.aclose()
