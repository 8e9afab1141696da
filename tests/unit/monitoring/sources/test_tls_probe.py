"""Certificate facts from a DER certificate."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bot.core.errors import SourceError
from bot.core.observations import Fact
from bot.monitoring.sources.tls_probe import certificate_facts
from tests.fakes.whois_server import make_self_signed


def values(facts: list[Fact], field: str) -> list[str]:
    return sorted(fact.value for fact in facts if fact.field == field)


def test_certificate_facts_from_der() -> None:
    pem, _ = make_self_signed("c2.evil.test", ("C2.Evil.test.", "cdn.evil.test"), ("192.0.2.7",))
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    facts = certificate_facts(der)
    assert values(facts, "tls_san") == ["192.0.2.7", "c2.evil.test", "cdn.evil.test"]
    assert values(facts, "tls_subject") == ["O=Watchpost Test,CN=c2.evil.test"]
    assert values(facts, "tls_issuer") == ["O=Watchpost Test,CN=c2.evil.test"]
    assert len(values(facts, "tls_fingerprint")[0]) == 64


def test_certificate_facts_garbage_is_source_error() -> None:
    with pytest.raises(SourceError):
        certificate_facts(b"not a certificate")
