"""Sources ask only their configured base URLs: no redirect is followed except RDAP's,
and neither an RDAP redirect nor a WHOIS referral ever reaches a private address,
whether it names one or a host name that resolves to one."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.config import Secret
from bot.core.errors import SourceError
from bot.core.observations import IndicatorKind
from bot.monitoring.sources.crtsh import CrtShClient
from bot.monitoring.sources.internetdb import InternetDbClient
from bot.monitoring.sources.mnemonic import MnemonicPassiveDns
from bot.monitoring.sources.rdap import RdapClient, redirect_allowed
from bot.monitoring.sources.whois import WhoisClient
from tests.fakes.whois_server import FakeRdapServer, FakeWhoisServer, iana_text, registry_text
from tests.faults.figures import Figures


class StaticResolver(AbstractResolver):
    """Host names to fixed addresses, as a hostile DNS would answer them."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        address = self.table.get(host, "127.0.0.1")
        return [{"hostname": host, "host": address, "port": port, "family": family, "proto": 0, "flags": 0}]

    async def close(self) -> None:
        return None


@pytest_asyncio.fixture
async def target() -> AsyncIterator[tuple[str, list[str]]]:
    """An 'internal' server a redirect might point at; records what reaches it."""
    reached: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        reached.append(request.path)
        return web.json_response({"objectClassName": "ip network", "handle": "INTERNAL"})

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"127.0.0.1:{port}", reached
    await runner.cleanup()


@pytest.mark.parametrize(
    ("base", "location", "allowed"),
    [
        ("https://rdap.org/", "https://rdap.arin.net/registry/ip/8.8.8.8", True),
        ("https://rdap.org/", "http://rdap.arin.net/registry/ip/8.8.8.8", False),  # downgrade
        ("https://rdap.org/", "https://169.254.169.254/latest/meta-data/", False),
        ("https://rdap.org/", "https://10.0.0.5/ip/1.2.3.4", False),
        ("https://rdap.org/", "https://[::1]/ip/1.2.3.4", False),
        ("https://rdap.org/", "https://[fd00::1]/x", False),
        ("https://rdap.org/", "https://localhost/x", False),
        ("https://rdap.org/", "https://evil.localhost/x", False),
        ("https://rdap.org/", "https://[::ffff:127.0.0.1]/x", False),
        ("https://rdap.org/", "file:///etc/passwd", False),
        ("https://rdap.org/", "gopher://rdap.org/", False),
        ("https://rdap.org/", "https:///no-host", False),
    ],
)
def test_rdap_redirect_targets(base: str, location: str, allowed: bool, figures: Figures) -> None:
    figures.tried("SSRF redirect targets")
    assert redirect_allowed(base, location) is allowed


async def test_rdap_redirect_to_a_name_resolving_inside_is_never_dialled(
    rdap_server: FakeRdapServer, target: tuple[str, list[str]], figures: Figures
) -> None:
    address, reached = target
    port = address.rsplit(":", 1)[1]
    resolver = StaticResolver({"intranet.corp.example": "10.0.0.5", "loopback.evil.example": "127.0.0.1"})
    client = RdapClient(rdap_server.base_url, timeout=2, resolver=resolver)
    try:
        for name in ("intranet.corp.example", "loopback.evil.example"):
            rdap_server.redirect("/ip/98.126.38.1", f"https://{name}:{port}/ip/98.126.38.1")
            with pytest.raises(SourceError, match="resolves to no public address"):
                await client.network_facts("98.126.38.1")
            figures.tried("SSRF redirect targets")
        assert resolver.asked == ["intranet.corp.example", "loopback.evil.example"]
        assert reached == []
    finally:
        await client.close()


async def test_other_sources_follow_no_redirect(target: tuple[str, list[str]], figures: Figures) -> None:
    address, reached = target

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://{address}/stolen{request.path}")

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", redirect)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    mnemonic = MnemonicPassiveDns(base, Secret("k"), timeout=2)
    crtsh = CrtShClient(base, timeout=2, cache_ttl=0)
    internetdb = InternetDbClient(base, timeout=2)
    try:
        lookups: list[Callable[[], Awaitable[object]]] = [
            lambda: mnemonic.lookup("98.126.38.1", IndicatorKind.IP),
            lambda: crtsh.certificates("evil-redirect.com"),
            lambda: internetdb.host("98.126.38.1"),
        ]
        for lookup in lookups:
            with pytest.raises(SourceError, match="HTTP 302"):
                await lookup()
            figures.tried("SSRF redirect targets")
        assert reached == []
    finally:
        for client in (mnemonic, crtsh, internetdb):
            await client.close()
        await runner.cleanup()


async def test_whois_referrals_to_private_addresses_are_never_dialled(figures: Figures) -> None:
    iana = FakeWhoisServer({"com": iana_text("com", "whois.evil-registry.com")}).start()
    registry = FakeWhoisServer(
        {"victim.com": registry_text("victim.com", registrar_host="whois.inside-registrar.com")}
    ).start()
    resolved = {
        "whois.evil-registry.com": ["10.0.0.7"],
        "whois.honest-registry.com": [registry.address.host],
        "whois.inside-registrar.com": ["192.168.1.10", "127.0.0.1"],
    }

    async def resolve(host: str) -> list[str]:
        return resolved[host]

    try:
        client = WhoisClient(None, timeout=2, iana=iana.address, resolve=resolve)
        with pytest.raises(SourceError, match="resolves to no public address"):
            await client.lookup("victim.com")
        assert registry.queries == []
        # The registry is fine (mapped to the fake as /etc/hosts would), its registrar
        # referral is not: the registry's own answer is used, the registrar never asked.
        client = WhoisClient(
            None,
            timeout=2,
            iana=iana.address,
            hosts={"whois.evil-registry.com": registry.address},
            resolve=resolve,
        )
        record = await client.lookup("victim.com")
        assert record.server == "whois.evil-registry.com" and record.note is not None
        assert "no public address" in record.note
        assert registry.queries == ["victim.com"]
        figures.tried("SSRF redirect targets", 2)
    finally:
        iana.stop()
        registry.stop()
