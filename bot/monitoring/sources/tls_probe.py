"""Active probe: the certificate an IP serves on a TLS port (opt-in: WATCHPOST_ACTIVE_PROBES).

The handshake verifies nothing and accepts old protocol versions: an attacker's
self-signed or expired certificate is exactly what we want to see.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import ssl
from contextlib import suppress

from cryptography import x509

from bot.core.errors import SourceError
from bot.core.observations import Fact

SOURCE = "tls"
SINGLE_VALUED_FIELDS = frozenset({"tls_subject", "tls_issuer", "tls_fingerprint"})
MULTI_VALUED_FIELDS = frozenset({"tls_san"})
FIELDS = SINGLE_VALUED_FIELDS | MULTI_VALUED_FIELDS


class TlsCertificateProbe:
    """Implements datasets.base.TlsProbe."""

    def __init__(self, port: int = 443, timeout: float = 10.0) -> None:
        self._port = port
        self._timeout = timeout

    async def certificate_facts(self, ip: str) -> list[Fact]:
        return certificate_facts(await self.fetch_certificate(ip))

    async def fetch_certificate(self, ip: str) -> bytes:
        """The DER certificate served at ip:port; SourceError on any failure."""
        try:
            host = str(ipaddress.ip_address(ip))
        except ValueError:
            raise SourceError(SOURCE, f"not an IP address: {ip!r}", transient=False) from None
        where = f"[{host}]:{self._port}" if ":" in host else f"{host}:{self._port}"
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self._timeout):
                _, writer = await asyncio.open_connection(host, self._port, ssl=_context())
                ssl_object = writer.get_extra_info("ssl_object")
                der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        except TimeoutError:
            raise SourceError(SOURCE, f"{where}: no handshake within {self._timeout:g}s") from None
        except (OSError, ssl.SSLError) as exc:
            raise SourceError(SOURCE, f"{where}: {exc.__class__.__name__}") from None
        finally:
            if writer is not None:
                writer.close()
                with suppress(OSError, ssl.SSLError):
                    await writer.wait_closed()
        if not der:
            raise SourceError(SOURCE, f"{where}: no certificate served")
        return bytes(der)


def certificate_facts(der: bytes) -> list[Fact]:
    """A DER certificate -> facts (pure)."""
    try:
        cert = x509.load_der_x509_certificate(der)
        facts = [
            Fact("tls_subject", cert.subject.rfc4514_string(), SOURCE),
            Fact("tls_issuer", cert.issuer.rfc4514_string(), SOURCE),
            Fact("tls_fingerprint", hashlib.sha256(der).hexdigest(), SOURCE),
        ]
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return facts
    except ValueError as exc:
        raise SourceError(SOURCE, f"unreadable certificate ({exc.__class__.__name__})") from None
    names = {name.lower().rstrip(".") for name in san.get_values_for_type(x509.DNSName)}
    names.update(str(address) for address in san.get_values_for_type(x509.IPAddress))
    facts.extend(Fact("tls_san", name, SOURCE) for name in sorted(names) if name)
    return facts


def _context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # we record what is served, we do not trust it
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    with suppress(ssl.SSLError):
        context.set_ciphers("ALL:@SECLEVEL=0")
    return context
