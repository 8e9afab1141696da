"""A small, lenient DER reader (pure): just enough to walk a TBSCertificate.

Lenient where the meaning is still clear: a long-form length where the short form would
do, or a length with leading zero bytes, is read as the number it spells. Not read: an
element that runs past its parent's end, a multi-byte tag, an indefinite length (BER,
never met in a logged certificate) — those raise DerError, and the caller decides what
the rest of the certificate is still worth.
"""

from __future__ import annotations

SEQUENCE, SET = 0x30, 0x31
INTEGER, OID, OCTET_STRING, BOOLEAN = 0x02, 0x06, 0x04, 0x01


class DerError(ValueError):
    """Bytes that do not hold the element expected at that place."""


def element(data: bytes, offset: int, end: int) -> tuple[int, int, int]:
    """(tag, where the content starts, where it ends) of the element at `offset`, which
    must end by `end`."""
    if offset + 2 > end:
        raise DerError("element truncated")
    tag, length = data[offset], data[offset + 1]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-byte tag")
    start = offset + 2
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4:
            raise DerError("indefinite or oversized length")
        if start + size > end:
            raise DerError("length truncated")
        length = int.from_bytes(data[start : start + size], "big")
        start += size
    if start + length > end:
        raise DerError("element runs past its parent")
    return tag, start, start + length


def children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """Every element between `start` and `end`, in order (a constructed element's content)."""
    found = []
    while start < end:
        item = element(data, start, end)
        found.append(item)
        start = item[2]
    return found
