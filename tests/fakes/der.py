"""Malformed certificates made on purpose: a DER tree to edit and re-encode (lengths are
recomputed), and the faults real CT logs hold, each applied to a good certificate or
TBSCertificate made by `CertificateAuthority` (tests/fakes/ct_log.py).

Each fault is one that `cryptography` refuses (the tests say so), written from X.509
(RFC 5280) and the DER rules (X.690), not copied from any corpus:
  version(der, 3)                  a version INTEGER of 3: "v4" (1: v2)
  explicit_default_version(der)    a v1 certificate whose [0] version 0 is spelt out
  with_extension(der, ...)         an extension added (a duplicate, an empty NameConstraints,
                                   an AKI naming an issuer but no serial, a broken IAN)
  unsorted_rdn(der)                the subject's one RDN a SET whose members are not sorted
  utc_time_without_seconds(der)    notBefore as YYMMDDhhmmZ
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

CONSTRUCTED = 0x20


@dataclass
class Node:
    tag: int
    content: bytes = b""  # a primitive element's bytes
    children: list[Node] = field(default_factory=list)  # a constructed element's

    @property
    def constructed(self) -> bool:
        return bool(self.tag & CONSTRUCTED)

    def encode(self) -> bytes:
        body = b"".join(c.encode() for c in self.children) if self.constructed else self.content
        return encode(self.tag, body)


def length_bytes(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    size = (length.bit_length() + 7) // 8
    return bytes([0x80 | size]) + length.to_bytes(size, "big")


def encode(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + length_bytes(len(content)) + content


def decode(der: bytes) -> Node:
    node, end = _decode(der, 0)
    if end != len(der):
        raise ValueError("bytes after the element")
    return node


def _decode(data: bytes, offset: int) -> tuple[Node, int]:
    tag, length, start = data[offset], data[offset + 1], offset + 2
    if length & 0x80:
        size = length & 0x7F
        length, start = int.from_bytes(data[start : start + size], "big"), start + size
    end = start + length
    if not tag & CONSTRUCTED:
        return Node(tag, data[start:end]), end
    node, offset = Node(tag), start
    while offset < end:
        child, offset = _decode(data, offset)
        node.children.append(child)
    return node, end


def oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER element."""
    first, second, *rest = (int(part) for part in dotted.split("."))
    body = bytearray([first * 40 + second])
    for arc in rest:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.append(0x80 | (arc & 0x7F))
        body.extend(reversed(chunk))
    return encode(0x06, bytes(body))


def extension(dotted: str, value: bytes, *, critical: bool = False) -> Node:
    """Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue }."""
    parts = oid(dotted) + (encode(0x01, b"\xff") if critical else b"") + encode(0x04, value)
    return decode(encode(0x30, parts))


# Extensions `cryptography` refuses; each a fault met in real logs.
EMPTY_NAME_CONSTRAINTS = ("2.5.29.30", encode(0x30, b""))
# keyIdentifier and authorityCertIssuer without authorityCertSerialNumber.
AKI_WITHOUT_SERIAL = (
    "2.5.29.35",
    encode(0x30, encode(0x80, b"\x01" * 20) + encode(0xA1, encode(0xA4, encode(0x30, b"")))),
)
# An IssuerAltName whose dNSName claims more bytes than it holds.
BROKEN_ISSUER_ALT_NAME = ("2.5.29.18", encode(0x30, b"\x82\x10short"))


def _tbs(root: Node, is_tbs: bool) -> Node:
    return root if is_tbs else root.children[0]


def edit(der: bytes, change: Callable[[Node], None], *, tbs: bool = False) -> bytes:
    """`der` (a Certificate, or a TBSCertificate with `tbs`) with `change` applied to its
    TBSCertificate node, re-encoded."""
    root = decode(der)
    change(_tbs(root, tbs))
    return root.encode()


def version(der: bytes, value: int, *, tbs: bool = False) -> bytes:
    def change(node: Node) -> None:
        node.children[0].children[0].content = bytes([value])

    return edit(der, change, tbs=tbs)


def explicit_default_version(der: bytes, *, tbs: bool = False) -> bytes:
    """The version v1 (0), written out though DER says a default is left out."""
    return version(der, 0, tbs=tbs)


def with_extension(der: bytes, added: Node, *, first: bool = True, tbs: bool = False) -> bytes:
    def change(node: Node) -> None:
        extensions = next(c for c in node.children if c.tag == 0xA3).children[0].children
        extensions.insert(0 if first else len(extensions), added)

    return edit(der, change, tbs=tbs)


def duplicate_first_extension(der: bytes, *, tbs: bool = False) -> bytes:
    def change(node: Node) -> None:
        extensions = next(c for c in node.children if c.tag == 0xA3).children[0].children
        extensions.insert(1, decode(extensions[0].encode()))

    return edit(der, change, tbs=tbs)


def unsorted_rdn(der: bytes, *, tbs: bool = False) -> bytes:
    """The subject's first RDN given a second attribute (an OU), the SET's members in
    descending order of their encodings where DER wants them ascending."""

    def change(node: Node) -> None:
        subject = node.children[_subject_index(node)]
        rdn = subject.children[0]
        ou = decode(encode(0x30, oid("2.5.4.11") + encode(0x0C, b"zz-unit")))
        ordered = sorted([*rdn.children, ou], key=lambda n: n.encode())
        rdn.children = list(reversed(ordered))

    return edit(der, change, tbs=tbs)


def utc_time_without_seconds(der: bytes, *, tbs: bool = False) -> bytes:
    def change(node: Node) -> None:
        validity = node.children[_subject_index(node) - 1]
        validity.children[0] = Node(0x17, b"2611300000Z")

    return edit(der, change, tbs=tbs)


def _subject_index(node: Node) -> int:
    # [0] version?, serial, signature, issuer, validity, subject
    return 5 if node.children[0].tag == 0xA0 else 4
