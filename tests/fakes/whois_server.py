"""Loopback fakes for the whois dataset: a WHOIS (port 43) server, a TLS server, an RDAP server.

Loaded as a pytest plugin (tests/conftest.py). Fixtures:

- `whois_server(replies, default=...)`: starts a threaded TCP WHOIS server on 127.0.0.1 that
  answers each query line from `replies`; `.mode` switches fault modes; `.queries` records.
- `tls_server`: a TLS server on 127.0.0.1 serving a self-signed certificate made at test time.
- `rdap_server`: an aiohttp server answering paths from `.routes`; `.requests` records.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import ipaddress
import json
import socket
import socketserver
import ssl
import struct
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.config import HostPort

# -- canned WHOIS texts ----------------------------------------------------------------------


def iana_text(tld: str, registry_host: str) -> str:
    return (
        "% IANA WHOIS server\n% for more information on IANA, visit http://www.iana.org\n\n"
        f"refer:        {registry_host}\n\n"
        f"domain:       {tld.upper()}\n\norganisation: Example Registry Services\n"
        f"whois:        {registry_host}\n\nstatus:       ACTIVE\n"
        "created:      1985-01-01\nchanged:      2023-12-07\nsource:       IANA\n"
    )


def registry_text(
    domain: str,
    registrar_host: str = "whois.registrar.test",
    *,
    registrar: str = "Evil Registrar, LLC",
    updated: str = "2024-08-14T07:01:34Z",
    last_update: str = "2024-09-01T10:11:12Z",
    name_servers: tuple[str, ...] = ("NS1.EVIL-DNS.TEST", "NS2.EVIL-DNS.TEST"),
) -> str:
    """Verisign-style thin registry reply with a `Registrar WHOIS Server:` referral."""
    servers = "".join(f"   Name Server: {ns}\r\n" for ns in name_servers)
    return (
        f"   Domain Name: {domain.upper()}\r\n"
        "   Registry Domain ID: 2336799_DOMAIN_COM-VRSN\r\n"
        f"   Registrar WHOIS Server: {registrar_host}\r\n"
        "   Registrar URL: http://www.registrar.test\r\n"
        f"   Updated Date: {updated}\r\n"
        "   Creation Date: 2021-03-04T05:06:07Z\r\n"
        "   Registry Expiry Date: 2026-03-04T05:06:07Z\r\n"
        f"   Registrar: {registrar}\r\n"
        "   Registrar IANA ID: 9999\r\n"
        "   Registrar Abuse Contact Email: abuse@registrar.test\r\n"
        "   Domain Status: clientTransferProhibited https://icann.org/epp#clientTransferProhibited\r\n"
        "   Domain Status: clientDeleteProhibited https://icann.org/epp#clientDeleteProhibited\r\n"
        f"{servers}"
        "   DNSSEC: unsigned\r\n"
        f">>> Last update of whois database: {last_update} <<<\r\n\r\n"
        "NOTICE: The expiration date displayed in this record is the date the registrar's\r\n"
        "sponsorship of the domain name registration in the registry is currently set to expire.\r\n"
    )


def registrar_text(domain: str, *, org: str = "Evil Corp Ltd", email: str = "Boss@Evil-Corp.test") -> str:
    """Registrar-style (thick) reply: registrant contact, redacted personal fields."""
    return (
        f"Domain Name: {domain}\n"
        "Registry Domain ID: 2336799_DOMAIN_COM-VRSN\n"
        "Registrar WHOIS Server: whois.registrar.test\n"
        "Updated Date: 2024-08-15T00:00:00Z\n"
        "Creation Date: 2021-03-04T05:06:07Z\n"
        "Registrar Registration Expiration Date: 2026-03-04T05:06:07Z\n"
        "Registrar: Evil Registrar, LLC\n"
        "Domain Status: clientTransferProhibited https://icann.org/epp#clientTransferProhibited\n"
        "Domain Status: clientDeleteProhibited https://icann.org/epp#clientDeleteProhibited\n"
        "Registrant Name: REDACTED FOR PRIVACY\n"
        f"Registrant Organization: {org}\n"
        "Registrant Street: REDACTED FOR PRIVACY\n"
        "Registrant Country: PA\n"
        f"Registrant Email: {email}\n"
        "Admin Email: Please query the RDDS service of the Registrar of Record\n"
        "Name Server: ns1.evil-dns.test.\n"
        "Name Server: ns2.evil-dns.test.\n"
        "DNSSEC: unsigned\n"
        ">>> Last update of WHOIS database: 2024-09-01T10:11:12Z <<<\n"
    )


def not_found_text(domain: str) -> str:
    return (
        f'No match for "{domain.upper()}".\r\n>>> Last update of whois database: 2024-09-01T10:11:12Z <<<\r\n'
    )


# -- WHOIS server ----------------------------------------------------------------------------


class Mode(enum.StrEnum):
    NORMAL = "normal"
    CLOSE_EARLY = "close_early"  # send half the reply, then reset the connection
    HANG = "hang"  # read the query, never answer, never close
    EMPTY = "empty"  # close without a byte


class FakeWhoisServer:
    """A real RFC 3912 server on 127.0.0.1 (random port), one thread per connection."""

    def __init__(self, replies: dict[str, str], default: str | None = None) -> None:
        self.replies = dict(replies)
        self.default = default
        self.mode = Mode.NORMAL
        # A fault mode for one query only (its line, e.g. "evil.com"); others get `mode`.
        self.modes: dict[str, Mode] = {}
        self.queries: list[str] = []
        self._released = threading.Event()
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                query = self.rfile.readline(4096).decode("utf-8", "replace").strip()
                fake.queries.append(query)
                fake._answer(self.request, query)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            block_on_close = False
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.address = HostPort("127.0.0.1", self._server.server_address[1])
        # A short poll keeps shutdown() (and so every test's teardown) quick.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)

    def _answer(self, sock: socket.socket, query: str) -> None:
        text = self.replies.get(query, self.default)
        mode = self.modes.get(query, self.mode)
        if mode is Mode.HANG:
            self._released.wait(10)
            return
        if mode is Mode.EMPTY or text is None:
            return
        data = text.encode()
        if mode is Mode.CLOSE_EARLY:
            sock.sendall(data[: len(data) // 2])
            # SO_LINGER 0: close() sends RST, the way a crashed or cut-off server ends.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            return
        sock.sendall(data)

    def start(self) -> FakeWhoisServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def whois_server() -> Iterator[Callable[..., FakeWhoisServer]]:
    """Factory: `whois_server({"example.com": text}, default=None)` -> a started server."""
    started: list[FakeWhoisServer] = []

    def start(replies: dict[str, str], default: str | None = None) -> FakeWhoisServer:
        server = FakeWhoisServer(replies, default).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# -- TLS server ------------------------------------------------------------------------------


@dataclass
class FakeTlsServer:
    """Serves one self-signed certificate; `der` and `fingerprint` are what a probe must see."""

    host: str
    port: int
    der: bytes
    subject: str
    dns_names: tuple[str, ...]
    handshakes: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.der).hexdigest()


def make_self_signed(
    common_name: str, dns_names: tuple[str, ...], ips: tuple[str, ...]
) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) with the given SANs; EC P-256 so it takes milliseconds."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Watchpost Test"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[FakeTlsServer]:
    cert_pem, key_pem = make_self_signed(
        "probe.watchpost.test", ("probe.watchpost.test", "WWW.Probe.Watchpost.test"), ("127.0.0.1",)
    )
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    cert = x509.load_pem_x509_certificate(cert_pem)
    server = FakeTlsServer(
        "127.0.0.1",
        listener.getsockname()[1],
        cert.public_bytes(serialization.Encoding.DER),
        cert.subject.rfc4514_string(),
        ("probe.watchpost.test", "www.probe.watchpost.test"),
    )

    def serve() -> None:
        while not server._stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    with context.wrap_socket(conn, server_side=True) as tls:
                        server.handshakes += 1
                        tls.recv(1)  # until the client closes
                except (OSError, ssl.SSLError):
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server
    server._stop.set()
    thread.join(2)
    listener.close()


# -- RDAP server -----------------------------------------------------------------------------


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeRdapServer:
    """`routes` maps a path ("/ip/192.0.2.1") to a Route; unknown paths get 404."""

    base_url: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def json(self, path: str, document: Any, status: int = 200) -> None:
        self.routes[path] = Route(
            status, json.dumps(document).encode(), {"Content-Type": "application/rdap+json"}
        )

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.routes[path] = Route(status, b"", {"Location": location})


def ip_network_document(
    handle: str = "NET-192-0-2-0-1",
    name: str = "EVIL-HOSTING-NET",
    start: str = "192.0.2.0",
    end: str = "192.0.2.255",
    *,
    cidr0: bool = True,
    org: str = "Evil Hosting Inc.",
    country: str = "us",
) -> dict[str, Any]:
    """An RFC 9083 ip network object as ARIN serves it."""
    document: dict[str, Any] = {
        "rdapConformance": ["rdap_level_0", "cidr0"],
        "objectClassName": "ip network",
        "handle": handle,
        "startAddress": start,
        "endAddress": end,
        "ipVersion": "v4",
        "name": name,
        "type": "DIRECT ALLOCATION",
        "country": country,
        "entities": [
            {
                "objectClassName": "entity",
                "handle": "ABUSE1-ARIN",
                "roles": ["abuse"],
                "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Abuse Desk"]]],
            },
            {
                "objectClassName": "entity",
                "handle": "EHI-1",
                "roles": ["registrant"],
                "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", org]]],
            },
        ],
        "events": [
            {"eventAction": "registration", "eventDate": "2019-01-01T00:00:00-05:00"},
            {"eventAction": "last changed", "eventDate": "2024-05-05T00:00:00-04:00"},
        ],
    }
    if cidr0:
        document["cidr0_cidrs"] = [{"v4prefix": start, "length": 24}]
    return document


@pytest_asyncio.fixture
async def rdap_server() -> AsyncIterator[FakeRdapServer]:
    fake = FakeRdapServer()

    async def handle(request: web.Request) -> web.Response:
        fake.requests.append(request.path)
        route = fake.routes.get(request.path)
        if route is None:
            return web.json_response({"errorCode": 404, "title": "Not Found"}, status=404)
        return web.Response(status=route.status, body=route.body, headers=route.headers)

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.base_url = f"http://127.0.0.1:{port}/"
    yield fake
    await runner.cleanup()
