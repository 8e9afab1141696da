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
        return _facts(x509.load_der_x509_certificate(der))
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


def _facts(certificate: x509.Certificate) -> CertificateFacts:
    names: dict[str, None] = {}  # insertion-ordered set
    for attribute in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        if isinstance(attribute.value, str) and attribute.value.strip():
            names[attribute.value.strip().lower()] = None
    for name in _san_dns_names(certificate):
        if name.strip():
            names[name.strip().lower()] = None
    return CertificateFacts(tuple(names), _issuer(certificate), _serial(certificate))


def _san_dns_names(certificate: x509.Certificate) -> list[str]:
    try:
        san = certificate.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except Exception:  # not there, or a malformed extension section: the CN is all there is
        return []
    if not isinstance(san.value, x509.SubjectAlternativeName):
        return []
    return san.value.get_values_for_type(x509.DNSName)


def _issuer(certificate: x509.Certificate) -> str:
    try:
        issuer = certificate.issuer
    except ValueError:
        return ""
    for oid in (NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
        for attribute in issuer.get_attributes_for_oid(oid):
            if isinstance(attribute.value, str) and attribute.value.strip():
                return attribute.value.strip()
    return ""


def _serial(certificate: x509.Certificate) -> str:
    serial = certificate.serial_number
    return f"{serial:x}" if serial >= 0 else f"-{-serial:x}"
