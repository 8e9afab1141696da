"""Names, issuer and serial from real certificates and precertificate TBSCertificates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.watches.ct.certificates import (
    CertificateError,
    certificate_facts,
    tbs_certificate_facts,
)
from tests.fakes import der as fake_der
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


def _reference_facts(der: bytes) -> tuple[tuple[str, ...], str]:
    """What `cryptography` alone says: the shortcut through the DER must agree."""
    certificate = x509.load_der_x509_certificate(der)
    names: dict[str, None] = {}
    for attribute in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        names[str(attribute.value).strip().lower()] = None
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        for name in san.get_values_for_type(x509.DNSName):
            names[name.lower()] = None
    except x509.ExtensionNotFound:
        pass
    issuer = certificate.issuer.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    issuer = issuer or certificate.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return tuple(names), str(issuer[0].value) if issuer else ""


def _with_subject(authority: CertificateAuthority, subject: x509.Name) -> bytes:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(authority.name)
        .public_key(authority.leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2026, 11, 30, tzinfo=UTC))
        .not_valid_after(datetime(2027, 2, 28, tzinfo=UTC))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("san.example.com")]), critical=False)
    )
    return builder.sign(authority.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize(
    "subject",
    [
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bmp.example.com", _ASN1Type.BMPString)]),
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pr.example.com", _ASN1Type.PrintableString)]),
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ümlaut.example.com")]),
        x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Some Org"),
                x509.NameAttribute(NameOID.COMMON_NAME, "first.example.com"),
                x509.NameAttribute(NameOID.COMMON_NAME, "second.example.com"),
            ]
        ),
        x509.Name(
            [
                x509.RelativeDistinguishedName(
                    [
                        x509.NameAttribute(NameOID.COMMON_NAME, "multi.example.com"),
                        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "ops"),
                    ]
                )
            ]
        ),
        x509.Name([]),
    ],
)
def test_names_read_from_the_der_agree_with_cryptography(
    authority: CertificateAuthority, subject: x509.Name
) -> None:
    der = _with_subject(authority, subject)
    facts = certificate_facts(der)
    assert (facts.names, facts.issuer) == _reference_facts(der)


def test_issuers_are_told_apart(authority: CertificateAuthority) -> None:
    other = CertificateAuthority("Another Trust Co", "Another CA")
    first, second = authority.certificate_for(["a.example"]), other.certificate_for(["b.example"])
    for _ in range(2):  # the second time from what was kept
        assert certificate_facts(first).issuer == "Loopback Trust Services"
        assert certificate_facts(second).issuer == "Another Trust Co"


# Faults real logs hold, each refused by `cryptography` (whole certificate, or every
# extension): the names, issuer and serial are read all the same.
FAULTS: dict[str, Callable[..., bytes]] = {
    "version 4": lambda der, **tbs: fake_der.version(der, 3, **tbs),
    "version 2": lambda der, **tbs: fake_der.version(der, 1, **tbs),
    "explicit default version": fake_der.explicit_default_version,
    "empty name constraints": lambda der, **tbs: fake_der.with_extension(
        der, fake_der.extension(*fake_der.EMPTY_NAME_CONSTRAINTS), **tbs
    ),
    "authority key identifier without serial": lambda der, **tbs: fake_der.with_extension(
        der, fake_der.extension(*fake_der.AKI_WITHOUT_SERIAL), first=False, **tbs
    ),
    "badly encoded issuer alternative name": lambda der, **tbs: fake_der.with_extension(
        der, fake_der.extension(*fake_der.BROKEN_ISSUER_ALT_NAME), **tbs
    ),
    "duplicated extension": fake_der.duplicate_first_extension,
    "unsorted SET": fake_der.unsorted_rdn,
    "UTCTime without seconds": fake_der.utc_time_without_seconds,
}


def _refused_by_cryptography(der: bytes) -> bool:
    try:
        certificate = x509.load_der_x509_certificate(der)
        certificate.extensions  # noqa: B018 - the property is what parses (and refuses) them
    except Exception:  # InvalidVersion is no ValueError: any refusal counts
        return True
    return False


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_certificates_cryptography_refuses_keep_every_name(
    authority: CertificateAuthority, fault: str
) -> None:
    names = ["paypa1-login.com", "www.paypa1-login.com"]
    good = authority.certificate_for(names, common_name="cn.paypa1-login.com", serial=0xC0FFEE)
    broken = FAULTS[fault](good)

    assert _refused_by_cryptography(broken)  # the fault is real, not a no-op
    facts = certificate_facts(broken)

    assert facts.names == ("cn.paypa1-login.com", *names)
    assert (facts.issuer, facts.serial) == ("Loopback Trust Services", "c0ffee")


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_precertificate_tbs_with_a_fault_keeps_every_name(
    authority: CertificateAuthority, fault: str
) -> None:
    issued = authority.precertificate_for(["paypa1-login.com", "secure.paypa1-login.com"])

    facts = tbs_certificate_facts(FAULTS[fault](issued.tbs, tbs=True))

    assert facts.names == ("paypa1-login.com", "secure.paypa1-login.com")
    assert facts.serial == f"{issued.serial:x}"


def test_a_san_cut_short_keeps_the_names_before_the_cut(authority: CertificateAuthority) -> None:
    good = authority.certificate_for(["first.example.com", "second.example.com"], common_name="")
    tail = b"second.example.com"
    index = good.index(tail)
    # The second dNSName claims two more bytes than its SAN holds: the first still counts.
    broken = good[: index - 1] + bytes([len(tail) + 2]) + good[index:]

    assert certificate_facts(broken).names == ("first.example.com",)


def test_a_broken_extension_section_keeps_the_common_name(authority: CertificateAuthority) -> None:
    good = authority.certificate_for(["san.example.com"], common_name="cn.example.com")

    def break_extensions(tbs: fake_der.Node) -> None:
        section = next(c for c in tbs.children if c.tag == 0xA3)
        section.children = [fake_der.Node(0x04, b"not a SEQUENCE of extensions")]

    assert certificate_facts(fake_der.edit(good, break_extensions)).names == ("cn.example.com",)


@pytest.mark.parametrize(
    ("tag", "raw", "read"),
    [
        (0x16, "bücher.example".encode(), "bücher.example"),  # UTF-8 in an IA5String
        (0x14, "caf\xe9.example".encode("latin-1"), "café.example"),  # TeletexString
        (0x1C, "uni.example".encode("utf-32-be"), "uni.example"),  # UniversalString
    ],
)
def test_common_names_in_odd_string_types_are_read(
    authority: CertificateAuthority, tag: int, raw: bytes, read: str
) -> None:
    good = authority.certificate_for(["san.example.com"], common_name="placeholder")

    def retype(tbs: fake_der.Node) -> None:
        subject = tbs.children[5]
        attribute = subject.children[0].children[0]
        attribute.children[1] = fake_der.Node(tag, raw)

    assert certificate_facts(fake_der.edit(good, retype)).names == (read, "san.example.com")


def test_negative_serials_keep_their_sign(authority: CertificateAuthority) -> None:
    good = authority.certificate_for(["neg.example.com"], serial=0x0102)

    def negate(tbs: fake_der.Node) -> None:
        tbs.children[1].content = b"\xfe\xfe"  # two's complement of -0x0102

    assert certificate_facts(fake_der.edit(good, negate)).serial == "-102"


def test_a_certificate_cut_short_after_its_tbs_is_read(authority: CertificateAuthority) -> None:
    good = authority.certificate_for(["cut.example.com"])
    certificate = fake_der.decode(good)
    signature_parts = len(certificate.children[1].encode()) + len(certificate.children[2].encode())
    cut = good[: len(good) - signature_parts + 3]  # the TBS whole, the signature cut short

    with pytest.raises(ValueError):
        x509.load_der_x509_certificate(cut)
    assert certificate_facts(cut).names == ("cut.example.com",)


def test_a_dns_name_tagged_explicitly_is_read(authority: CertificateAuthority) -> None:
    good = authority.certificate_for(["implicit.example.com"], common_name="")

    def explicit_tagging(tbs: fake_der.Node) -> None:
        extensions = next(c for c in tbs.children if c.tag == 0xA3).children[0].children
        san = next(e for e in extensions if e.children[0].content == b"\x55\x1d\x11")
        names = fake_der.encode(0xA2, fake_der.encode(0x16, b"explicit.example.com"))
        san.children[-1].content = fake_der.encode(0x30, names + fake_der.encode(0x82, b"second.example.com"))

    facts = certificate_facts(fake_der.edit(good, explicit_tagging))

    assert facts.names == ("explicit.example.com", "second.example.com")


_FUZZED = CertificateAuthority().certificate_for(["fuzz.example.com", "www.fuzz.example.com"])


@settings(max_examples=400, deadline=None)
@given(
    position=st.integers(min_value=0, max_value=len(_FUZZED) - 1),
    value=st.integers(min_value=0, max_value=255),
    keep=st.integers(min_value=0, max_value=len(_FUZZED)),
)
def test_hostile_bytes_give_facts_or_certificate_error_never_another_exception(
    position: int, value: int, keep: int
) -> None:
    """Any byte changed, then the certificate cut anywhere: what the walker says is facts or
    CertificateError (an exception of another class would be a fault of the reader's own)."""
    mutated = (_FUZZED[:position] + bytes([value]) + _FUZZED[position + 1 :])[:keep]
    for read in (certificate_facts, tbs_certificate_facts):
        try:
            facts = read(mutated)
        except CertificateError:
            continue
        assert all(isinstance(name, str) and name for name in facts.names)
