"""Normalisation shared by the passive DNS sources: rows, timestamps and queries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.monitoring.sources.passive_dns import epoch_to_utc, make_record, normalise_query

JAN = datetime(2024, 1, 1, tzinfo=UTC)
FEB = datetime(2024, 2, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rrname", "rrtype", "rdata", "expected"),
    [
        ("Evil-Example.COM.", "a", " 98.126.38.107 ", ("evil-example.com", "A", "98.126.38.107")),
        ("evil-example.com", "aaaa", "2001:DB8:0:0::1", ("evil-example.com", "AAAA", "2001:db8::1")),
        (
            "www.evil-example.com.",
            "cname",
            "Evil-Example.com.",
            ("www.evil-example.com", "CNAME", "evil-example.com"),
        ),
        (
            "evil-example.com",
            "MX",
            "10 MX1.Evil-Example.com.",
            ("evil-example.com", "MX", "10 mx1.evil-example.com"),
        ),
        (
            "evil-example.com",
            "txt",
            "v=spf1 Include:X.com.",
            ("evil-example.com", "TXT", "v=spf1 Include:X.com."),
        ),
    ],
)
def test_make_record_normalises_case_dots_type_and_ips(
    rrname: str, rrtype: str, rdata: str, expected: tuple[str, str, str]
) -> None:
    record = make_record(rrname, rrtype, rdata, JAN, FEB, "src")
    assert (record.rrname, record.rrtype, record.rdata) == expected
    assert (record.first_seen, record.last_seen, record.source) == (JAN, FEB, "src")


def test_make_record_rejects_an_address_row_without_an_address() -> None:
    with pytest.raises(ValueError):
        make_record("evil-example.com", "A", "not-an-ip", None, None, "src")


@pytest.mark.parametrize(
    ("value", "millis", "expected"),
    [
        (1704067200, False, JAN),
        ("1704067200", False, JAN),
        (1704067200.0, False, JAN),
        (1704067200000, True, JAN),
        ("2024-01-01T00:00:00", False, JAN),
        ("2024-01-01T01:00:00+01:00", False, JAN),
        (None, False, None),
        ("", False, None),
    ],
)
def test_epoch_to_utc_reads_numbers_strings_and_iso(
    value: object, millis: bool, expected: datetime | None
) -> None:
    result = epoch_to_utc(value, millis=millis)
    assert result == expected
    if result is not None:
        assert result.tzinfo is UTC


@pytest.mark.parametrize("value", [True, "yesterday", [1], 10**20])
def test_epoch_to_utc_rejects_what_is_not_a_time(value: object) -> None:
    with pytest.raises(ValueError):
        epoch_to_utc(value)


def test_normalise_query_canonicalises_ips_and_names() -> None:
    assert normalise_query(" 2001:DB8::0:1 ") == "2001:db8::1"
    assert normalise_query("Evil-Example.COM.") == "evil-example.com"
