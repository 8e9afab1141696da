"""A logged certificate's names, issuer and serial (pure), with `cryptography`.

A precertificate entry logs a TBSCertificate, not a certificate, and `cryptography` loads
only certificates; so the TBS is wrapped in a Certificate SEQUENCE with a placeholder
signature algorithm and an empty signature. Nothing here checks a signature (the log
vouches for the entry, not the reader), and the TBS is exactly the bytes that were logged,
so the names read are the ones the final certificate will carry.

Hostile bytes: a certificate `cryptography` cannot read raises CertificateError; a
malformed extension section costs the SAN names only (the CN still counts).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

# AlgorithmIdentifier ecdsa-with-SHA256 and an empty BIT STRING: the wrapper's placeholders.
_PLACEHOLDER_SIGNATURE = bytes.fromhex("300a06082a8648ce3d040302") + b"\x03\x01\x00"


class CertificateError(ValueError):
    """DER that is not a certificate (or TBSCertificate) `cryptography` can read."""


@dataclass(frozen=True)
class CertificateFacts:
    names: tuple[str, ...]  # CN then SAN dNSNames, lower-cased, first occurrence kept
    issuer: str
    serial: str


def certificate_facts(der: bytes) -> CertificateFacts:
    try:
        return _facts(x509.load_der_x509_certificate(der), der)
    except ValueError as exc:
        raise CertificateError(f"unreadable certificate ({exc.__class__.__name__})") from None


def tbs_certificate_facts(tbs: bytes) -> CertificateFacts:
    return certificate_facts(wrap_tbs_certificate(tbs))


def wrap_tbs_certificate(tbs: bytes) -> bytes:
    """Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }."""
    body = tbs + _PLACEHOLDER_SIGNATURE
    return b"\x30" + _der_length(len(body)) + body


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def _facts(certificate: x509.Certificate, der: bytes) -> CertificateFacts:
    names: dict[str, None] = {}  # insertion-ordered set
    issuer_der, subject_der = _issuer_and_subject(der)
    common_names = _common_names(subject_der) if subject_der is not None else None
    if common_names is None:
        attributes = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        common_names = [a.value for a in attributes if isinstance(a.value, str)]
    for common_name in common_names:
        if common_name.strip():
            names[common_name.strip().lower()] = None
    for name in _san_dns_names(certificate):
        if name.strip():
            names[name.strip().lower()] = None
    return CertificateFacts(tuple(names), _issuer(certificate, issuer_der), _serial(certificate))


def _san_dns_names(certificate: x509.Certificate) -> list[str]:
    try:
        san = certificate.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except Exception:  # not there, or a malformed extension section: the CN is all there is
        return []
    if not isinstance(san.value, x509.SubjectAlternativeName):
        return []
    return san.value.get_values_for_type(x509.DNSName)


def _issuer(certificate: x509.Certificate, raw: bytes | None) -> str:
    # A few issuers sign nearly every certificate, and building a Name in `cryptography`
    # costs more than the rest of the certificate: the answer is kept per issuer's bytes.
    if raw is not None and (known := _ISSUERS.get(raw)) is not None:
        return known
    name = _issuer_name(certificate)
    if raw is not None:
        if len(_ISSUERS) >= _ISSUERS_KEPT:
            _ISSUERS.clear()
        _ISSUERS[raw] = name
    return name


_ISSUERS: dict[bytes, str] = {}
_ISSUERS_KEPT = 4096


def _issuer_name(certificate: x509.Certificate) -> str:
    try:
        issuer = certificate.issuer
    except ValueError:
        return ""
    for oid in (NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
        for attribute in issuer.get_attributes_for_oid(oid):
            if isinstance(attribute.value, str) and attribute.value.strip():
                return attribute.value.strip()
    return ""


# Reading the two Names straight from the DER: `cryptography` builds a Python object per
# attribute of a Name, which is most of the cost of a certificate. Anything unexpected
# (another layout, another string type) falls back to `cryptography`.
_COMMON_NAME_OID = b"\x06\x03\x55\x04\x03"  # 2.5.4.3
_STRING_CODECS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii"}  # UTF8, Printable, IA5String


def _issuer_and_subject(der: bytes) -> tuple[bytes | None, bytes | None]:
    """The issuer and subject Names' DER inside a Certificate: [0] version?, serialNumber,
    signature, issuer, validity, subject. (None, None) when the bytes are not laid out so."""
    try:
        _, certificate, _ = _tlv(der, 0)
        _, offset, _ = _tlv(der, certificate)  # into the TBSCertificate
        tag, _, end = _tlv(der, offset)
        if tag == 0xA0:  # the version; the serial number follows
            tag, _, end = _tlv(der, end)
        _, _, issuer_start = _tlv(der, end)  # the signature AlgorithmIdentifier
        issuer_tag, _, issuer_end = _tlv(der, issuer_start)
        _, _, subject_start = _tlv(der, issuer_end)  # validity
        subject_tag, _, subject_end = _tlv(der, subject_start)
    except (IndexError, ValueError):
        return None, None
    if issuer_tag != 0x30 or subject_tag != 0x30:
        return None, None
    return der[issuer_start:issuer_end], der[subject_start:subject_end]


def _common_names(name: bytes) -> list[str] | None:
    """Every CN of a Name (SEQUENCE OF SET OF AttributeTypeAndValue), None if unsure."""
    try:
        _, offset, end = _tlv(name, 0)
        found: list[str] = []
        while offset < end:
            tag, attribute, offset = _tlv(name, offset)
            if tag != 0x31:  # a RelativeDistinguishedName is a SET
                return None
            while attribute < offset:
                tag, start, attribute = _tlv(name, attribute)
                if tag != 0x30:
                    return None
                if name[start : start + 5] == _COMMON_NAME_OID:
                    kind, value, value_end = _tlv(name, start + 5)
                    codec = _STRING_CODECS.get(kind)
                    if codec is None:
                        return None
                    found.append(name[value:value_end].decode(codec))
    except (IndexError, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    return found


def _tlv(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, where the content starts, where it ends) of the DER element at `offset`."""
    tag, length, start = data[offset], data[offset + 1], offset + 2
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4:
            raise ValueError("unsupported DER length")
        length, start = int.from_bytes(data[start : start + size], "big"), start + size
    if start + length > len(data):
        raise ValueError("DER element runs past the end")
    return tag, start, start + length


def _serial(certificate: x509.Certificate) -> str:
    serial = certificate.serial_number
    return f"{serial:x}" if serial >= 0 else f"-{-serial:x}"
