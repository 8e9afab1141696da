"""The pure parsers of the HTTP sources: provider replies in, normalised values out."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from bot.errors import SourceError
from bot.monitoring.datasets.base import PassiveDnsRecord
from bot.monitoring.datasets.certificates import certificate_fact_value
from bot.monitoring.sources.circl import parse_cof
from bot.monitoring.sources.crtsh import CtCertificate, parse_crtsh, split_names
from bot.monitoring.sources.http import TokenBucket
from bot.monitoring.sources.internetdb import InternetDbHost, is_no_information, parse_internetdb
from bot.monitoring.sources.mnemonic import parse_mnemonic_page
from bot.monitoring.sources.passive_dns import epoch_to_utc, make_record, normalise_query
from bot.monitoring.sources.virustotal import parse_virustotal_page
from tests.fakes.http_sources import FakeClock

JAN = datetime(2024, 1, 1, tzinfo=UTC)
FEB = datetime(2024, 2, 1, tzinfo=UTC)
MAR = datetime(2024, 3, 1, tzinfo=UTC)


# -- normalisation shared by the passive DNS sources -----------------------------------


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


# -- Mnemonic --------------------------------------------------------------------------


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


# -- CIRCL COF -------------------------------------------------------------------------


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


# -- VirusTotal ------------------------------------------------------------------------


def test_parse_virustotal_page_reads_resolutions_and_cursor() -> None:
    payload = {
        "data": [
            {
                "attributes": {
                    "date": 1709251200,
                    "host_name": "Evil-Example.com.",
                    "ip_address": "98.126.38.107",
                }
            },
            {
                "attributes": {
                    "date": 1706745600,
                    "host_name": "evil-example.com",
                    "ip_address": "2001:0db8::0001",
                }
            },
            {"attributes": {"host_name": "evil-example.com"}},
        ],
        "meta": {"count": 90, "cursor": "Q3Vyc29y"},
    }
    page = parse_virustotal_page(payload)
    assert page.records == [
        PassiveDnsRecord("evil-example.com", "A", "98.126.38.107", None, MAR, "virustotal"),
        PassiveDnsRecord("evil-example.com", "AAAA", "2001:db8::1", None, FEB, "virustotal"),
    ]
    assert (page.cursor, page.skipped) == ("Q3Vyc29y", 1)


@pytest.mark.parametrize("payload", [[], {"data": "x"}, {"error": {"code": "X"}}, {"data": [{"id": "x"}]}])
def test_parse_virustotal_page_rejects_other_shapes(payload: object) -> None:
    with pytest.raises(SourceError):
        parse_virustotal_page(payload)


# -- crt.sh ----------------------------------------------------------------------------


def _crt(
    crtsh_id: int, names: str, serial: str, issuer: str = "C=US, O=Let's Encrypt, CN=R3"
) -> dict[str, object]:
    return {
        "issuer_ca_id": 183267,
        "issuer_name": issuer,
        "common_name": names.split("\n")[0],
        "name_value": names,
        "id": crtsh_id,
        "entry_timestamp": "2024-01-01T00:10:00.5",
        "not_before": "2024-01-01T00:00:00",
        "not_after": "2024-03-31T23:59:59",
        "serial_number": serial,
    }


def test_parse_crtsh_merges_precertificate_and_certificate() -> None:
    rows = [
        _crt(1, "evil-example.com\n*.evil-example.com", "04:A1:B2"),
        _crt(2, "evil-example.com\n*.evil-example.com", "04a1b2"),
    ]
    result = parse_crtsh(rows, "evil-example.com")
    assert result.certificates == (
        CtCertificate(
            issuer_name="C=US, O=Let's Encrypt, CN=R3",
            issuer_ca_id=183267,
            serial="04a1b2",
            not_before=datetime(2024, 1, 1, tzinfo=UTC),
            not_after=datetime(2024, 3, 31, 23, 59, 59, tzinfo=UTC),
            names=("*.evil-example.com", "evil-example.com"),
            crtsh_ids=(1, 2),
        ),
    )
    assert result.names == {"evil-example.com"}
    assert result.wildcards == {"evil-example.com"}


def test_parse_crtsh_keeps_two_issuers_with_one_serial_apart() -> None:
    rows = [
        _crt(1, "a.evil-example.com", "01"),
        _crt(2, "b.evil-example.com", "01", issuer="C=US, O=X, CN=Other"),
    ]
    assert [cert.issuer for cert in parse_crtsh(rows, "evil-example.com").certificates] == ["R3", "Other"]


def test_split_names_keeps_names_under_the_domain_only() -> None:
    value = (
        "Mail.Evil-Example.com.\n*.API.evil-example.com\nevil-example.com\nnotevil-example.com\n"
        "unrelated.org\nadmin@evil-example.com\n198.51.100.7\nfoo*.evil-example.com\n"
    )
    assert split_names(value, "evil-example.com") == [
        "mail.evil-example.com",
        "*.api.evil-example.com",
        "evil-example.com",
    ]


def test_parse_crtsh_reduces_wildcards_to_their_base_but_remembers_them() -> None:
    rows = [_crt(1, "*.api.evil-example.com\nlogin.evil-example.com", "ff01")]
    result = parse_crtsh(rows, "evil-example.com")
    assert result.names == {"api.evil-example.com", "login.evil-example.com"}
    assert result.wildcards == {"api.evil-example.com"}
    assert result.certificates[0].names == ("*.api.evil-example.com", "login.evil-example.com")


@pytest.mark.parametrize("payload", [{"error": "x"}, "text", [{"id": 1}], ["junk"]])
def test_parse_crtsh_rejects_other_shapes(payload: object) -> None:
    with pytest.raises(SourceError) as caught:
        parse_crtsh(payload, "evil-example.com")
    assert caught.value.source == "crtsh"


def test_certificate_fact_value_is_readable_and_stable() -> None:
    cert = parse_crtsh(
        [_crt(1, "evil-example.com\n*.evil-example.com", "04A1")], "evil-example.com"
    ).certificates[0]
    assert certificate_fact_value(cert) == (
        "R3 serial 04a1 (2024-01-01..2024-03-31) names: *.evil-example.com, evil-example.com"
    )


def test_certificate_issuer_falls_back_to_organisation() -> None:
    rows = [_crt(1, "a.evil-example.com", "01", issuer='C=US, O="DigiCert, Inc."')]
    assert parse_crtsh(rows, "evil-example.com").certificates[0].issuer == "DigiCert, Inc."


# -- InternetDB ------------------------------------------------------------------------


def test_parse_internetdb_normalises_every_list() -> None:
    payload = {
        "ip": "98.126.38.107",
        "ports": [443, 22],
        "hostnames": ["Evil-Example.com."],
        "cpes": ["cpe:/a:nginx:nginx"],
        "tags": ["Self-Signed"],
        "vulns": ["cve-2023-44487"],
    }
    assert parse_internetdb(payload) == InternetDbHost(
        ports=frozenset({22, 443}),
        hostnames=frozenset({"evil-example.com"}),
        cpes=frozenset({"cpe:/a:nginx:nginx"}),
        tags=frozenset({"self-signed"}),
        vulns=frozenset({"CVE-2023-44487"}),
    )


@pytest.mark.parametrize(
    "payload",
    [
        {"detail": "No information available"},
        {"ports": ["80"]},
        {"ports": [70000]},
        {"ports": [1], "cpes": "x"},
    ],
)
def test_parse_internetdb_rejects_other_shapes(payload: object) -> None:
    with pytest.raises(SourceError):
        parse_internetdb(payload)


def test_is_no_information_knows_internetdb_404_from_any_404() -> None:
    assert is_no_information(b'{"detail":"No information available"}')
    assert not is_no_information(b"404: Not Found")
    assert not is_no_information(b'{"detail":"Not Found"}')


# -- the token bucket ------------------------------------------------------------------


async def test_token_bucket_lets_a_burst_through_then_fails_fast() -> None:
    clock = FakeClock()
    bucket = TokenBucket(per_second=4 / 60, capacity=4, max_wait=0, clock=clock, sleep=clock.sleep)
    for _ in range(4):
        await bucket.acquire("virustotal")
    with pytest.raises(SourceError) as caught:
        await bucket.acquire("virustotal")
    assert caught.value.message.startswith("quota")
    assert "next slot in 15s" in caught.value.message
    clock.advance(15)
    await bucket.acquire("virustotal")
    assert clock.sleeps == []


async def test_token_bucket_queues_callers_in_order_within_max_wait() -> None:
    clock = FakeClock()
    bucket = TokenBucket(per_second=4 / 60, capacity=1, max_wait=40, clock=clock, sleep=clock.sleep)
    await bucket.acquire("vt")
    # Reserve three slots without letting time pass: 15 s, 30 s, then 45 s > max_wait.
    assert bucket._reserve("vt") == pytest.approx(15)
    assert bucket._reserve("vt") == pytest.approx(30)
    with pytest.raises(SourceError):
        bucket._reserve("vt")


async def test_token_bucket_gives_back_the_slot_of_a_cancelled_waiter() -> None:
    clock = FakeClock()
    bucket = TokenBucket(per_second=1.0, capacity=1, max_wait=5, clock=clock)  # asyncio.sleep
    await bucket.acquire("vt")
    waiter = asyncio.create_task(bucket.acquire("vt"))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert bucket._reserve("vt") == pytest.approx(1.0)  # not 2.0: the cancelled slot came back
