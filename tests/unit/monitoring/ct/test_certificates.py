"""Names, issuer and serial from real certificates and precertificate TBSCertificates."""

from __future__ import annotations

import pytest
from cryptography import x509

from bot.monitoring.ct.certificates import (
    CertificateError,
    certificate_facts,
    tbs_certificate_facts,
    wrap_tbs_certificate,
)
from tests.fakes.ct_log import CertificateAuthority


@pytest.fixture(scope="module")
def authority() -> CertificateAuthority:
    return CertificateAuthority()


def test_certificate_names_cn_first_lower_cased_deduplicated(authority: CertificateAuthority) -> None:
    der = authority.certificate_for(
        ["Login.Example.COM", "login.example.com", "*.Example.com", "xn--nterfax-y2g.ru"],
        common_name="LOGIN.example.com",
        serial=0x0ABCDEF,
    )
    facts = certificate_facts(der)
    assert facts.names == ("login.example.com", "*.example.com", "xn--nterfax-y2g.ru")
    assert facts.issuer == "Loopback Trust Services" and facts.serial == "abcdef"


def test_precertificate_tbs_gives_the_names_of_the_certificate_to_be(authority: CertificateAuthority) -> None:
    issued = authority.precertificate_for(["www.interfaxru.com", "interfaxru.com"])
    from_tbs = tbs_certificate_facts(issued.tbs)
    assert from_tbs == certificate_facts(issued.certificate)
    assert from_tbs.names == ("www.interfaxru.com", "interfaxru.com")
    # The precertificate itself carries the poison extension; the logged TBS does not.
    precert = x509.load_der_x509_certificate(issued.precertificate)
    assert precert.extensions.get_extension_for_class(x509.PrecertPoison).critical
    wrapped = x509.load_der_x509_certificate(wrap_tbs_certificate(issued.tbs))
    with pytest.raises(x509.ExtensionNotFound):
        wrapped.extensions.get_extension_for_class(x509.PrecertPoison)


def test_issuer_falls_back_to_cn_and_names_to_san_only() -> None:
    authority = CertificateAuthority(organisation="", common_name="Only A Common Name CA")
    facts = certificate_facts(authority.certificate_for(["san.example.net"], common_name=""))
    assert facts.names == ("san.example.net",) and facts.issuer == "Only A Common Name CA"


def test_long_tbs_wraps_with_a_long_form_length(authority: CertificateAuthority) -> None:
    names = [f"host-{i:04d}.example.org" for i in range(120)]  # a TBS well past 255 bytes
    issued = authority.precertificate_for(names)
    assert len(issued.tbs) > 256
    assert tbs_certificate_facts(issued.tbs).names == tuple(names)


@pytest.mark.parametrize("der", [b"", b"\x30\x03\x02\x01\x01", b"not a certificate at all"])
def test_unreadable_certificates_raise_certificate_error(der: bytes) -> None:
    with pytest.raises(CertificateError):
        certificate_facts(der)
    with pytest.raises(CertificateError):
        tbs_certificate_facts(der)
