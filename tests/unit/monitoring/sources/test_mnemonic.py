"""Mnemonic's passive DNS replies in, normalised records out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.errors import SourceError
from bot.monitoring.datasets.base import PassiveDnsRecord
from bot.monitoring.sources.mnemonic import parse_mnemonic_page

FEB = datetime(2024, 2, 1, tzinfo=UTC)
MAR = datetime(2024, 3, 1, tzinfo=UTC)


def _mnemonic(data: list[object], **extra: object) -> dict[str, object]:
    return {
        "responseCode": 200,
        "count": len(data),
        "offset": 0,
        "limit": 25,
        "size": len(data),
        "data": data,
    } | extra


def test_parse_mnemonic_page_normalises_rows() -> None:
    row = {
        "query": "Login.Evil-Example.COM.",
        "answer": "98.126.38.107",
        "rrtype": "a",
        "rrclass": "in",
        "firstSeenTimestamp": 1706745600000,
        "lastSeenTimestamp": 1709251200000,
        "times": 7,
    }
    page = parse_mnemonic_page(_mnemonic([row], count=130))
    assert page.records == [
        PassiveDnsRecord("login.evil-example.com", "A", "98.126.38.107", FEB, MAR, "mnemonic")
    ]
    assert (page.rows, page.total, page.skipped) == (1, 130, 0)


def test_parse_mnemonic_page_skips_and_counts_bad_rows() -> None:
    good = {"query": "a.test.", "answer": "192.0.2.1", "rrtype": "a", "firstSeenTimestamp": None}
    page = parse_mnemonic_page(_mnemonic([good, "junk", {"query": "b.test"}, {**good, "answer": "x"}]))
    assert [r.rrname for r in page.records] == ["a.test"]
    assert page.records[0].first_seen is None
    assert (page.rows, page.skipped) == (4, 3)


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"responseCode": 200},
        {"responseCode": 200, "data": {"query": "x"}},
        {"responseCode": 402, "data": []},
        {"data": []},
        _mnemonic(["junk", 3]),
    ],
)
def test_parse_mnemonic_page_rejects_other_shapes(payload: object) -> None:
    with pytest.raises(SourceError) as caught:
        parse_mnemonic_page(payload)
    assert caught.value.source == "mnemonic"


def test_parse_mnemonic_page_of_no_rows_is_no_data() -> None:
    page = parse_mnemonic_page(_mnemonic([]))
    assert (page.records, page.rows, page.total) == ([], 0, 0)
