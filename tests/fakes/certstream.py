"""A loopback certstream server speaking certstream-server-go's WebSocket protocol, written
from its documented message format (its README and models): `/` (certificate updates
without the DER), `/full-stream` (with `as_der` and the chain), `/domains-only`
(`{"message_type": "dns_entries", "data": [...]}`).

Like the real server it pings each client every `ping_seconds` (30) and closes, with 1008
"No ping received!", a client that has not pinged it for `ping_deadline` (65) seconds; it
ignores what clients send otherwise. Certificates are real (`cryptography` reads the DER
the way the server's Go x509 does): `all_domains` is the SAN dNSNames, then the subject CN
when it is not among them and the certificate is no CA; `serial_number` is upper-case hex
of even length; `seen` is seconds with milliseconds.

Test controls: `send(der, ...)` / `send_precertificate(issued, ...)` broadcast one update;
`heartbeat()` sends CaliDog certstream-server's heartbeat message; `drop_clients()` closes
every connection as a restart would; `connections` counts the upgrades ever made,
`clients` those open now.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from aiohttp import WSCloseCode, web
from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.fakes.ct_log import IssuedPrecertificate

_SUBJECT_FIELDS = (
    ("C", NameOID.COUNTRY_NAME),
    ("CN", NameOID.COMMON_NAME),
    ("L", NameOID.LOCALITY_NAME),
    ("O", NameOID.ORGANIZATION_NAME),
    ("OU", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("ST", NameOID.STATE_OR_PROVINCE_NAME),
)


def _subject(name: x509.Name) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, oid in _SUBJECT_FIELDS:
        values = [str(a.value) for a in name.get_attributes_for_oid(oid)]
        fields[key] = ",".join(values) if values or key == "CN" else None
    aggregated = "".join(f"/{key}={fields[key]}" for key, _ in _SUBJECT_FIELDS if fields[key] is not None)
    return {**fields, "aggregated": aggregated, "email_address": None}


def _fingerprint(der: bytes) -> str:
    digest = hashlib.sha1(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def leaf_cert(der: bytes) -> dict[str, Any]:
    """`leaf_cert` as certstream-server-go builds it from a certificate."""
    certificate = x509.load_der_x509_certificate(der)
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        domains = list(san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        domains = []
    try:
        is_ca = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    subject = _subject(certificate.subject)
    if subject["CN"] and not is_ca and subject["CN"] not in domains:
        domains.append(subject["CN"])
    serial = f"{certificate.serial_number:X}"
    return {
        "all_domains": domains,
        "extensions": {},
        "fingerprint": _fingerprint(der),
        "sha1": _fingerprint(der),
        "sha256": hashlib.sha256(der).hexdigest().upper(),
        "not_after": int(certificate.not_valid_after_utc.timestamp()),
        "not_before": int(certificate.not_valid_before_utc.timestamp()),
        "serial_number": serial if len(serial) % 2 == 0 else "0" + serial,
        "signature_algorithm": "ecdsa, sha256",
        "subject": subject,
        "issuer": _subject(certificate.issuer),
        "is_ca": is_ca,
    }


def messages(
    der: bytes,
    *,
    log_url: str = "https://ct.loopback.example/2026h1/",
    index: int = 0,
    precertificate: bool = False,
    chain: tuple[bytes, ...] = (),
    seen: float | None = None,
) -> dict[str, str]:
    """The messages one logged certificate makes, per subscription: "lite" (`/`), "full"
    (`/full-stream`) and "domains" (`/domains-only`)."""
    leaf = leaf_cert(der)
    data: dict[str, Any] = {
        "cert_index": index,
        "cert_link": f"{log_url.rstrip('/')}/ct/v1/get-entries?start={index}&end={index}",
        "leaf_cert": leaf,
        "seen": round(time.time() if seen is None else seen, 3),
        "source": {"name": "Loopback 2026h1", "url": log_url, "timestamp": 0, "type": "rfc6962"},
        "update_type": "PrecertLogEntry" if precertificate else "X509LogEntry",
    }
    full_data = {**data, "leaf_cert": {**leaf, "as_der": _b64(der)}, "chain": [leaf_cert(c) for c in chain]}
    return {
        "lite": json.dumps({"data": data, "message_type": "certificate_update"}),
        "full": json.dumps({"data": full_data, "message_type": "certificate_update"}),
        "domains": json.dumps({"data": leaf["all_domains"], "message_type": "dns_entries"}),
    }


class FakeCertstream:
    def __init__(self, *, ping_seconds: float = 30.0, ping_deadline: float = 65.0) -> None:
        self.ping_seconds = ping_seconds
        self.ping_deadline = ping_deadline
        self.connections = 0
        self._clients: dict[web.WebSocketResponse, str] = {}  # socket -> subscription
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    @property
    def clients(self) -> int:
        return len(self._clients)

    @property
    def url(self) -> str:
        return f"{self.base_url}/"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._connect("lite"))
        app.router.add_get("/full-stream", self._connect("full"))
        app.router.add_get("/domains-only", self._connect("domains"))
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"ws://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        await self.drop_clients()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _connect(self, subscription: str) -> Any:
        async def handle(request: web.Request) -> web.WebSocketResponse:
            # The server answers pings itself (autoping) and pings every ping_seconds; a
            # client that sends nothing (no ping, no pong) within ping_deadline is closed.
            ws = web.WebSocketResponse(heartbeat=self.ping_seconds, receive_timeout=self.ping_deadline)
            await ws.prepare(request)
            self.connections += 1
            self._clients[ws] = subscription
            try:
                async for _ in ws:  # what clients send is ignored
                    pass
            except TimeoutError:
                await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"No ping received!")
            finally:
                self._clients.pop(ws, None)
            return ws

        return handle

    async def send(self, der: bytes, **options: Any) -> None:
        """One certificate_update (see `messages`) to every client, shaped by its subscription."""
        shaped = messages(der, **options)
        await self._broadcast(lambda subscription: shaped[subscription])

    async def send_precertificate(self, issued: IssuedPrecertificate, **options: Any) -> None:
        await self.send(issued.precertificate, precertificate=True, **options)

    async def heartbeat(self) -> None:
        await self._broadcast(lambda _: json.dumps({"message_type": "heartbeat", "timestamp": time.time()}))

    async def drop_clients(self) -> None:
        for ws in list(self._clients):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"restarting")
        self._clients.clear()

    async def _broadcast(self, shape: Any) -> None:
        for ws, subscription in list(self._clients.items()):
            if not ws.closed:
                await ws.send_str(shape(subscription))


def _b64(der: bytes) -> str:
    return base64.b64encode(der).decode()


@pytest_asyncio.fixture
async def certstream() -> AsyncIterator[FakeCertstream]:
    server = FakeCertstream()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def wait_until(probe: Any, *, timeout: float = 15.0, what: str = "") -> Any:
    """Poll `probe` (sync or async) until it is truthy; fail after a generous `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = probe()
        if asyncio.iscoroutine(found):
            found = await found
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or probe}")
        await asyncio.sleep(0.05)
