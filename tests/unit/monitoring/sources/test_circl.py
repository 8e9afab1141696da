"""CIRCL's COF NDJSON in, the records of the queried value out."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.core.errors import SourceError
from bot.monitoring.datasets.base import PassiveDnsRecord
from bot.monitoring.sources.circl import parse_cof

FEB = datetime(2024, 2, 1, tzinfo=UTC)
MAR = datetime(2024, 3, 1, tzinfo=UTC)


def _cof(*rows: object) -> str:
    return "\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows)


def test_parse_cof_reads_numbers_as_strings_and_rdata_lists() -> None:
    text = _cof(
        {
            "rrname": "Cdn.Evil-Example.com.",
            "rrtype": "a",
            "rdata": ["98.126.38.107", "98.126.38.108", "98.126.38.107"],
            "time_first": "1706745600",
            "time_last": "1709251200",
            "count": "3",
        }
    )
    result = parse_cof(text, "98.126.38.107")
    # Only the elements that are the queried IP are about it.
    expected = PassiveDnsRecord("cdn.evil-example.com", "A", "98.126.38.107", FEB, MAR, "circl")
    assert result.records == [expected, expected]
    assert result.skipped == 0


def test_parse_cof_matches_the_query_on_rrname_or_rdata() -> None:
    text = _cof(
        {
            "rrname": "evil-example.com",
            "rrtype": "NS",
            "rdata": "NS1.bad-dns.net.",
            "time_first": 1,
            "time_last": 2,
        },
        {
            "rrname": "www.evil-example.com.",
            "rrtype": "CNAME",
            "rdata": "Evil-Example.com.",
            "time_first": 1,
            "time_last": 2,
        },
        {
            "rrname": "other.test",
            "rrtype": "CNAME",
            "rdata": "elsewhere.test",
            "time_first": 1,
            "time_last": 2,
        },
    )
    records = parse_cof(text, "Evil-Example.com").records
    assert [(r.rrname, r.rrtype, r.rdata) for r in records] == [
        ("evil-example.com", "NS", "ns1.bad-dns.net"),
        ("www.evil-example.com", "CNAME", "evil-example.com"),
    ]
    assert records[0].first_seen == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)


def test_parse_cof_skips_and_counts_lines_that_are_not_cof_objects() -> None:
    good = {"rrname": "a.test", "rrtype": "A", "rdata": "192.0.2.1", "time_first": 1, "time_last": 2}
    text = _cof(
        good,
        "not json",
        '["a", "list"]',
        {"rrname": "a.test", "rrtype": "A", "rdata": "192.0.2.1", "time_first": 1},  # no time_last
        {**good, "rdata": 17},
        {**good, "time_first": "soon"},
        "",
        "   ",
    )
    result = parse_cof(text, "192.0.2.1")
    assert len(result.records) == 1
    assert result.skipped == 5


def test_parse_cof_fails_when_every_line_is_bad() -> None:
    with pytest.raises(SourceError) as caught:
        parse_cof("<html>\n<body>Service Unavailable</body>\n</html>\n", "192.0.2.1")
    assert "3 unreadable lines" in caught.value.message


def test_parse_cof_of_nothing_is_no_data() -> None:
    assert parse_cof("\n\n", "192.0.2.1").records == []
