"""Log entries as bytes -> `Leaf` values (pure): RFC 6962 §3.4 MerkleTreeLeaf (what
`get-entries` returns as `leaf_input`) and Static CT API data tiles (a sequence of
TileLeaf: TimestampedEntry, the precertificate, the chain's fingerprints).

Both carry the same TimestampedEntry:

    uint64 timestamp; uint16 entry_type;
    x509_entry:    opaque ASN.1Cert<1..2^24-1>
    precert_entry: opaque issuer_key_hash[32]; opaque TBSCertificate<1..2^24-1>
    opaque CtExtensions<0..2^16-1>   (static CT: leaf_index(0) -> uint40)

Malformed bytes raise LeafError; nothing here trusts a length it has not checked.
"""

from __future__ import annotations

from dataclasses import dataclass

X509_ENTRY, PRECERT_ENTRY = 0, 1
TILE_WIDTH = 256
_LEAF_INDEX_EXTENSION = 0


class LeafError(ValueError):
    """Bytes that are not the structure they should be."""


@dataclass(frozen=True)
class Leaf:
    timestamp_ms: int
    precertificate: bool
    certificate: bytes  # x509_entry: the certificate's DER; precert_entry: the TBSCertificate's
    leaf_index: int | None = None  # the static CT leaf_index extension, when present


@dataclass(frozen=True)
class UnreadableLeaf:
    """An entry whose bytes could not be read (one `leaf_input` of a get-entries reply):
    it keeps its place, so the entries after it are read and the position moves past it."""

    reason: str


def parse_merkle_tree_leaf(data: bytes) -> Leaf:
    """One `leaf_input`: version v1(0), leaf_type timestamped_entry(0), TimestampedEntry."""
    if len(data) < 2 or data[0] != 0 or data[1] != 0:
        raise LeafError("not a v1 timestamped_entry MerkleTreeLeaf")
    leaf, end = _timestamped_entry(data, 2)
    if end != len(data):
        raise LeafError("bytes after the MerkleTreeLeaf")
    return leaf


def parse_data_tile(data: bytes) -> list[Leaf]:
    """Every TileLeaf of one data tile, in order."""
    leaves: list[Leaf] = []
    offset, size = 0, len(data)
    while offset < size:
        leaf, offset = _tile_leaf(data, offset)
        leaves.append(leaf)
    return leaves


def read_data_tile(data: bytes, width: int) -> list[Leaf | UnreadableLeaf]:
    """The first `width` TileLeaf entries of a data tile. Past a malformed one no entry's
    boundary can be trusted: it and the rest of the tile are UnreadableLeaf (a tile never
    changes, so reading it again would not mend it)."""
    leaves: list[Leaf | UnreadableLeaf] = []
    offset, size = 0, len(data)
    try:
        while offset < size and len(leaves) < width:
            leaf, offset = _tile_leaf(data, offset)
            leaves.append(leaf)
    except LeafError as exc:
        reason = f"LeafError: {exc} (the tile cannot be read past its entry {len(leaves)})"
        leaves.extend(UnreadableLeaf(reason) for _ in range(width - len(leaves)))
    return leaves


def _tile_leaf(data: bytes, offset: int) -> tuple[Leaf, int]:
    leaf, offset = _timestamped_entry(data, offset)
    if leaf.precertificate:
        offset = _skip(data, offset, 3)  # pre_certificate: the TBS above is what was logged
    return leaf, _skip(data, offset, 2)  # certificate_chain fingerprints


def _timestamped_entry(data: bytes, offset: int) -> tuple[Leaf, int]:
    if offset + 10 > len(data):
        raise LeafError("truncated TimestampedEntry")
    timestamp = int.from_bytes(data[offset : offset + 8], "big")
    entry_type = int.from_bytes(data[offset + 8 : offset + 10], "big")
    offset += 10
    if entry_type == X509_ENTRY:
        certificate, offset = _opaque(data, offset, 3)
    elif entry_type == PRECERT_ENTRY:
        if offset + 32 > len(data):
            raise LeafError("truncated issuer_key_hash")
        certificate, offset = _opaque(data, offset + 32, 3)
    else:
        raise LeafError(f"unknown entry_type {entry_type}")
    if not certificate:
        raise LeafError("empty certificate")
    extensions, offset = _opaque(data, offset, 2)
    return Leaf(timestamp, entry_type == PRECERT_ENTRY, certificate, _leaf_index(extensions)), offset


def _leaf_index(extensions: bytes) -> int | None:
    offset = 0
    while offset < len(extensions):
        kind = extensions[offset]
        value, offset = _opaque(extensions, offset + 1, 2)
        if kind == _LEAF_INDEX_EXTENSION:
            if len(value) != 5:
                raise LeafError("leaf_index extension is not 40 bits")
            return int.from_bytes(value, "big")
    return None


def _opaque(data: bytes, offset: int, length_bytes: int) -> tuple[bytes, int]:
    start = offset + length_bytes
    if start > len(data):
        raise LeafError("truncated length")
    end = start + int.from_bytes(data[offset:start], "big")
    if end > len(data):
        raise LeafError("length runs past the end")
    return data[start:end], end


def _skip(data: bytes, offset: int, length_bytes: int) -> int:
    return _opaque(data, offset, length_bytes)[1]


def tile_index_path(index: int) -> str:
    """A tile index as path elements of three digits, all but the last prefixed with x:
    1234067 -> x001/x234/067."""
    if index < 0:
        raise ValueError("a tile index is not negative")
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(groups))


def data_tile_path(index: int, width: int = TILE_WIDTH) -> str:
    """`tile/data/<N>` for a full tile, `tile/data/<N>.p/<W>` for a partial one."""
    if not 0 < width <= TILE_WIDTH:
        raise ValueError("a tile holds 1 to 256 entries")
    path = f"tile/data/{tile_index_path(index)}"
    return path if width == TILE_WIDTH else f"{path}.p/{width}"
