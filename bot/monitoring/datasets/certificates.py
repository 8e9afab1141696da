"""Certificates: from the CT logs (crt.sh) for a domain; served on :443 for an IP (opt-in probe)."""

from __future__ import annotations

import asyncio
import logging

from bot.core.errors import SourceError
from bot.core.observations import Fact, IndicatorKind, Observation, SourceFailure, SourceRead
from bot.monitoring.datasets.base import TlsProbe
from bot.monitoring.datasets.model import CERTIFICATES_DATASET
from bot.monitoring.sources.crtsh import SOURCE as CRTSH
from bot.monitoring.sources.crtsh import CrtShClient, CtCertificate
from bot.monitoring.sources.tls_probe import FIELDS as TLS_FIELDS
from bot.monitoring.sources.tls_probe import SINGLE_VALUED_FIELDS as TLS_SINGLE_VALUED

logger = logging.getLogger(__name__)

FIELD = "certificate"
DESCRIPTOR = CERTIFICATES_DATASET


def certificate_fact_value(cert: CtCertificate) -> str:
    """`<issuer CN> serial <hex> (<not before>..<not after>) names: a, b`: stable and readable."""
    start = cert.not_before.date().isoformat() if cert.not_before else "?"
    end = cert.not_after.date().isoformat() if cert.not_after else "?"
    return f"{cert.issuer} serial {cert.serial} ({start}..{end}) names: {', '.join(cert.names)}"


class CertificatesDataset:
    """Domains: one fact per unexpired certificate in the CT logs (field "certificate").

    IPs, only with a TLS probe: the probe's facts (tls_subject, tls_issuer, tls_fingerprint,
    tls_san) of the certificate served now.
    """

    name = DESCRIPTOR.name

    def __init__(
        self, crtsh: CrtShClient | None, tls_probe: TlsProbe | None, *, probe_timeout: float = 30.0
    ) -> None:
        self._crtsh = crtsh
        self._tls_probe = tls_probe
        self._probe_timeout = probe_timeout

    def applies_to(self, kind: IndicatorKind) -> bool:
        if kind is IndicatorKind.DOMAIN:
            return self._crtsh is not None
        return self._tls_probe is not None

    async def collect(self, indicator: str, kind: IndicatorKind) -> Observation:
        if kind is IndicatorKind.IP:
            return await self._collect_probe(indicator)
        if self._crtsh is None:
            return _failure(self.name, CRTSH, "crt.sh is off (WATCHPOST_CRTSH_URL is empty)")
        try:
            result = await self._crtsh.certificates(indicator)
        except SourceError as exc:
            return _failure(self.name, exc.source, exc.message)
        facts = frozenset(Fact(FIELD, certificate_fact_value(cert), CRTSH) for cert in result.certificates)
        # CT logs are history and expired certificates drop out of the answer: a certificate
        # missing from it is no news, so the field is add-only (never `known`).
        return Observation(self.name, facts, frozenset(), reads=(SourceRead.of(CRTSH, {FIELD}, facts),))

    async def _collect_probe(self, ip: str) -> Observation:
        if self._tls_probe is None:
            return _failure(self.name, "tls", "active probes are off", TLS_FIELDS)
        try:
            async with asyncio.timeout(self._probe_timeout):
                facts = await self._tls_probe.certificate_facts(ip)
        except SourceError as exc:
            return _failure(self.name, exc.source, exc.message, TLS_FIELDS)
        except TimeoutError:
            return _failure(self.name, "tls", f"no certificate within {self._probe_timeout:g}s", TLS_FIELDS)
        except Exception as exc:
            # The probe's contract is SourceError; anything else is its bug, kept out of the check.
            logger.exception("tls probe failed unexpectedly")
            return _failure(self.name, "tls", f"probe failed ({exc.__class__.__name__})", TLS_FIELDS)
        # Every probe field is known, so a SAN that went away is reported removed.
        known = TLS_FIELDS | {fact.field for fact in facts}
        reads = tuple(
            SourceRead.of(source, known, [f for f in facts if f.source == source])
            for source in sorted({f.source for f in facts} or {"tls"})
        )
        return Observation(self.name, frozenset(facts), known, single_valued=TLS_SINGLE_VALUED, reads=reads)


def _failure(
    dataset: str, source: str, message: str, fields: frozenset[str] = frozenset({FIELD})
) -> Observation:
    failure = SourceFailure(source, message, fields)
    return Observation(dataset, frozenset(), frozenset(), (failure,))
