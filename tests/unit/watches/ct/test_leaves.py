"""MerkleTreeLeaf and data tile parsing, tile paths: table-driven, bytes built by hand."""

from __future__ import annotations

import pytest

from bot.watches.ct.leaves import (
    LeafError,
    data_tile_path,
    parse_data_tile,
    parse_merkle_tree_leaf,
    tile_index_path,
)


def _u(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big")


CERT = b"\x30\x03\x02\x01\x07"  # stands in for DER: the parser does not look inside
TBS = b"\x30\x02\x05\x00"
KEY_HASH = bytes(range(32))


def x509_entry(timestamp: int = 1_700_000_000_000, extensions: bytes = b"") -> bytes:
    return _u(timestamp, 8) + b"\x00\x00" + _u(len(CERT), 3) + CERT + _u(len(extensions), 2) + extensions


def precert_entry(extensions: bytes = b"") -> bytes:
    body = KEY_HASH + _u(len(TBS), 3) + TBS
    return _u(5, 8) + b"\x00\x01" + body + _u(len(extensions), 2) + extensions


def leaf_index(index: int) -> bytes:
    return b"\x00" + _u(5, 2) + _u(index, 5)


@pytest.mark.parametrize(
    ("index", "path"),
    [(0, "000"), (67, "067"), (999, "999"), (1000, "x001/000"), (1234067, "x001/x234/067")],
)
def test_tile_index_path_groups_three_digits(index: int, path: str) -> None:
    assert tile_index_path(index) == path


def test_data_tile_path_marks_partial_tiles() -> None:
    assert data_tile_path(1234) == "tile/data/x001/234"
    assert data_tile_path(5, 45) == "tile/data/005.p/45"
    with pytest.raises(ValueError, match="1 to 256"):
        data_tile_path(0, 0)


def test_merkle_tree_leaf_x509_and_precert() -> None:
    cert = parse_merkle_tree_leaf(b"\x00\x00" + x509_entry())
    assert (cert.timestamp_ms, cert.precertificate, cert.certificate, cert.leaf_index) == (
        1_700_000_000_000,
        False,
        CERT,
        None,
    )
    precert = parse_merkle_tree_leaf(b"\x00\x00" + precert_entry())
    assert precert.precertificate and precert.certificate == TBS  # the TBS, not the key hash


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x01\x00" + x509_entry(), "v1"),
        (b"\x00\x00" + x509_entry()[:12], "truncated length|past the end"),
        (b"\x00\x00" + x509_entry()[:-1], "truncated length"),
        (b"\x00\x00" + x509_entry() + b"\x00", "bytes after"),
        (b"\x00\x00" + _u(1, 8) + b"\x00\x07" + _u(1, 3) + b"\x30", "unknown entry_type 7"),
        (b"\x00\x00" + _u(1, 8) + b"\x00\x00" + _u(9_000_000, 3) + CERT, "past the end"),
        (b"\x00\x00" + _u(1, 8) + b"\x00\x00" + _u(0, 3) + _u(0, 2), "empty certificate"),
    ],
)
def test_malformed_leaves_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(LeafError, match=message):
        parse_merkle_tree_leaf(data)


def test_data_tile_reads_each_tile_leaf_and_its_index() -> None:
    fingerprints = _u(64, 2) + bytes(64)
    precertificate = b"\x30\x04\x01\x02\x03\x04"
    tile = (
        x509_entry(extensions=leaf_index(512))
        + fingerprints
        + precert_entry(extensions=leaf_index(513))
        + _u(len(precertificate), 3)
        + precertificate
        + _u(0, 2)
    )

    leaves = parse_data_tile(tile)

    assert [(leaf.leaf_index, leaf.precertificate) for leaf in leaves] == [(512, False), (513, True)]
    assert leaves[1].certificate == TBS
    with pytest.raises(LeafError):
        parse_data_tile(tile[:-1])


def test_a_leaf_index_that_is_not_40_bits_is_refused() -> None:
    with pytest.raises(LeafError, match="40 bits"):
        parse_data_tile(x509_entry(extensions=b"\x00" + _u(4, 2) + _u(1, 4)) + _u(0, 2))
