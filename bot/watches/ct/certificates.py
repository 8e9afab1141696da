"""A logged certificate's names, issuer and serial (pure), read from its TBSCertificate.

The TBSCertificate is walked with a small lenient DER reader (bot/watches/ct/der.py),
not loaded with `cryptography`: `cryptography` refuses a whole certificate for a fault in a
part a watch never needs (version 2 or 4, an explicit default version, an unsorted SET,
a UTCTime without seconds, extra key parameters) and every extension for a fault in one
(empty name constraints, an authority key identifier without serial, a duplicated
extension, a badly encoded issuer alternative name) — and it builds Python objects for
every field, which is most of what reading a certificate costs. Here only the five
fields a watch and an alert use are read:

    TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature,
        issuer, validity, subject, subjectPublicKeyInfo, [1] [2] unique ids OPTIONAL,
        [3] extensions OPTIONAL }

A precertificate entry logs the TBSCertificate itself; a certificate entry the whole
Certificate (SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }). Nothing
here checks a signature: the log vouches for the entry, not the reader.

Hostile bytes: a TBSCertificate whose serial, issuer or subject cannot be found raises
CertificateError. Past the subject, a fault costs only what it hides: a malformed
extension is passed over (the SAN beside it is still read), a SAN cut short keeps the
names before the cut, and a broken extension section keeps the CN.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.watches.ct.der import INTEGER, OCTET_STRING, OID, SEQUENCE, SET, DerError, children, element

_COMMON_NAME = b"\x55\x04\x03"  # 2.5.4.3
_ORGANIZATION = b"\x55\x04\x0a"  # 2.5.4.10
_SUBJECT_ALT_NAME = b"\x55\x1d\x11"  # 2.5.29.17
_EXTENSIONS_TAG = 0xA3  # [3] EXPLICIT
_VERSION_TAG = 0xA0  # [0] EXPLICIT
_DNS_NAME_TAG = 0x82  # GeneralName dNSName: [2] IMPLICIT IA5String
_DNS_NAME_EXPLICIT_TAG = 0xA2  # the same wrongly tagged [2] EXPLICIT: the meaning is still clear
# Directory string types and how their bytes are text. TeletexString is Latin-1 in practice.
_STRING_CODECS = {
    0x0C: "utf-8",  # UTF8String
    0x13: "ascii",  # PrintableString
    0x16: "ascii",  # IA5String
    0x1A: "ascii",  # VisibleString
    0x14: "latin-1",  # TeletexString
    0x1E: "utf-16-be",  # BMPString
    0x1C: "utf-32-be",  # UniversalString
}


class CertificateError(ValueError):
    """DER that is not a certificate (or TBSCertificate): no serial, issuer or subject."""


@dataclass(frozen=True)
class CertificateFacts:
    names: tuple[str, ...]  # CN then SAN dNSNames, lower-cased, first occurrence kept
    issuer: str  # organisation (O=), else CN, else ""
    serial: str  # hex, "-" before a negative one


def certificate_facts(der: bytes) -> CertificateFacts:
    """The facts of a Certificate's TBSCertificate."""
    try:
        tag, start, end = element(der, 0, len(der))
        if tag != SEQUENCE:
            raise DerError("a certificate is a SEQUENCE")
        tbs = element(der, start, end)
    except DerError as exc:
        cut = _tbs_of_a_cut_certificate(der)
        if cut is None:
            raise CertificateError(f"unreadable certificate ({exc})") from None
        tbs = cut
    return _tbs_facts(der, tbs)


def _tbs_of_a_cut_certificate(der: bytes) -> tuple[int, int, int] | None:
    """A Certificate whose own length runs past its bytes (the signature cut off) still
    holds a whole TBSCertificate, bounded by its own length: that one is read."""
    if len(der) < 2 or der[0] != SEQUENCE:
        return None
    header = 2 + (der[1] & 0x7F if der[1] & 0x80 else 0)
    try:
        return element(der, header, len(der))
    except DerError:
        return None


def tbs_certificate_facts(tbs: bytes) -> CertificateFacts:
    """The facts of a TBSCertificate (what a precertificate entry logs)."""
    try:
        found = element(tbs, 0, len(tbs))
    except DerError as exc:
        raise CertificateError(f"unreadable TBSCertificate ({exc})") from None
    return _tbs_facts(tbs, found)


def _tbs_facts(data: bytes, tbs: tuple[int, int, int]) -> CertificateFacts:
    tag, offset, end = tbs
    try:
        if tag != SEQUENCE:
            raise DerError("a TBSCertificate is a SEQUENCE")
        tag, start, offset = element(data, offset, end)
        if tag == _VERSION_TAG:  # whatever version it claims: the fields below are read alike
            tag, start, offset = element(data, offset, end)
        if tag != INTEGER:
            raise DerError("no serial number")
        serial = _serial(data[start:offset])
        offset = element(data, offset, end)[2]  # the signature AlgorithmIdentifier
        issuer_tag, issuer_start, issuer_end = element(data, offset, end)
        offset = element(data, issuer_end, end)[2]  # validity: never read, so never refused
        subject_tag, subject_start, offset = element(data, offset, end)
    except DerError as exc:
        raise CertificateError(f"unreadable TBSCertificate ({exc})") from None
    if issuer_tag != SEQUENCE or subject_tag != SEQUENCE:
        raise CertificateError("unreadable TBSCertificate (issuer or subject is not a Name)")
    names: dict[str, None] = {}  # insertion-ordered set
    for common_name in _attribute_values(data, subject_start, offset, _COMMON_NAME):
        _add_name(names, common_name)
    for san_name in _san_dns_names(data, offset, end):
        _add_name(names, san_name)
    return CertificateFacts(tuple(names), _issuer(data[issuer_start:issuer_end]), serial)


def _add_name(names: dict[str, None], name: str) -> None:
    name = name.strip().lower()
    if name:
        names[name] = None


def _san_dns_names(data: bytes, offset: int, end: int) -> list[str]:
    """dNSNames of every SubjectAltName extension (a duplicated one read too), from the
    elements after the subject: subjectPublicKeyInfo, unique ids, [3] extensions."""
    found: list[str] = []
    try:
        while offset < end:
            tag, start, offset = element(data, offset, end)
            if tag != _EXTENSIONS_TAG:
                continue
            tag, start, stop = element(data, start, offset)
            if tag != SEQUENCE:
                return found
            while start < stop:
                tag, extension, start = element(data, start, stop)
                if tag == SEQUENCE:
                    _extension_dns_names(data, extension, start, found)
    except DerError:
        pass  # a broken extension section: what was read before it stands
    return found


def _extension_dns_names(data: bytes, start: int, end: int, found: list[str]) -> None:
    """Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET
    STRING }: the dNSNames of a SubjectAltName; any other extension, or a fault inside
    this one past the names already read, is none of the reader's business."""
    try:
        tag, oid_start, offset = element(data, start, end)
        if tag != OID or data[oid_start:offset] != _SUBJECT_ALT_NAME:
            return
        tag, value, value_end = element(data, offset, end)
        if tag != OCTET_STRING:  # the critical flag came first
            tag, value, value_end = element(data, value_end, end)
        if tag != OCTET_STRING:
            return
        tag, offset, names_end = element(data, value, value_end)
        if tag != SEQUENCE:
            return
        while offset < names_end:
            tag, name, offset = element(data, offset, names_end)
            if tag == _DNS_NAME_TAG:
                found.append(_text(data[name:offset], "ascii"))
            elif tag == _DNS_NAME_EXPLICIT_TAG:  # tagged explicitly, an IA5String inside
                _, inner, inner_end = element(data, name, offset)
                found.append(_text(data[inner:inner_end], "ascii"))
    except DerError:
        return


def _attribute_values(data: bytes, start: int, end: int, wanted: bytes) -> list[str]:
    """The values of every `wanted` attribute of a Name (SEQUENCE OF SET OF
    AttributeTypeAndValue), in order; attributes that are not laid out so are passed over."""
    found: list[str] = []
    try:
        for tag, rdn_start, rdn_end in children(data, start, end):
            if tag != SET:
                continue
            for tag, attribute, attribute_end in children(data, rdn_start, rdn_end):
                if tag != SEQUENCE:
                    continue
                tag, oid_start, offset = element(data, attribute, attribute_end)
                if tag != OID or data[oid_start:offset] != wanted:
                    continue
                kind, value, value_end = element(data, offset, attribute_end)
                codec = _STRING_CODECS.get(kind)
                if codec is not None:
                    found.append(_text(data[value:value_end], codec))
    except DerError:
        pass  # a Name cut short: the values before the cut
    return found


def _text(raw: bytes, codec: str) -> str:
    """A string's text; bytes its type does not allow (UTF-8 in an IA5String, say) are
    read as UTF-8, else Latin-1, so that the name still shows what was logged."""
    try:
        return raw.decode(codec)
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _issuer(raw: bytes) -> str:
    # A few issuers sign nearly every certificate: the answer is kept per issuer's bytes.
    known = _ISSUERS.get(raw)
    if known is not None:
        return known
    name = _issuer_name(raw)
    if len(_ISSUERS) >= _ISSUERS_KEPT:
        _ISSUERS.clear()
    _ISSUERS[raw] = name
    return name


_ISSUERS: dict[bytes, str] = {}
_ISSUERS_KEPT = 4096


def _issuer_name(raw: bytes) -> str:
    for wanted in (_ORGANIZATION, _COMMON_NAME):
        for value in _attribute_values(raw, 0, len(raw), wanted):
            if value.strip():
                return value.strip()
    return ""


def _serial(content: bytes) -> str:
    serial = int.from_bytes(content, "big", signed=True)
    return f"{serial:x}" if serial >= 0 else f"-{-serial:x}"
