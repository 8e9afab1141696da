"""Record normalisation: TTL, order, case and trailing dots must never look like a change."""

from __future__ import annotations

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest

from bot.monitoring.dns import (
    canonical_ip,
    normalise_name,
    normalise_rdata,
    normalise_record,
    normalise_records,
    reverse_name,
)


@pytest.mark.parametrize(
    ("rdtype", "text", "expected"),
    [
        ("A", "192.0.2.1", "192.0.2.1"),
        ("AAAA", "2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("AAAA", "2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1"),
        ("CNAME", "WWW.Example.COM.", "www.example.com"),
        ("CNAME", "xn--BCHER-kva.Example.", "xn--bcher-kva.example"),  # IDN stays punycode
        ("NS", "NS1.Example.NET.", "ns1.example.net"),
        ("PTR", "Host-107.Example.NET.", "host-107.example.net"),
        ("MX", "10 Mail.Example.COM.", "10 mail.example.com"),
        ("MX", "0 .", "0 ."),  # RFC 7505 null MX: the root stays "."
        ("TXT", '"v=spf1 " "include:_spf.Example.com ~all"', "v=spf1 include:_spf.Example.com ~all"),
        ("TXT", '"MixedCase Token=AbC"', "MixedCase Token=AbC"),  # TXT keeps its case
        ("TXT", '"caf\\195\\169"', "café"),  # UTF-8 across the wire decodes
        ("TXT", '"\\255abc"', "\\xffabc"),  # not UTF-8: backslash-escaped, never dropped
        ("TXT", '"a" "" "b"', "ab"),
        (
            "SOA",
            "NS1.Example.COM. HostMaster.Example.COM. 2024010101 7200 3600 1209600 300",
            "ns1.example.com hostmaster.example.com",
        ),
    ],
)
def test_normalise_record_canonical_form(rdtype: str, text: str, expected: str) -> None:
    assert normalise_record(rdtype, text) == expected


@pytest.mark.parametrize(
    ("rdtype", "first", "second"),
    [
        (
            "SOA",
            "ns1.example.com. h.example.com. 1 7200 3600 1209600 300",
            "ns1.example.com. h.example.com. 2 1 1 1 1",
        ),
        ("NS", "ns1.example.com.", "NS1.EXAMPLE.COM"),
        ("AAAA", "::1", "0:0:0:0:0:0:0:1"),
        ("MX", "10 mx.example.com.", "10 MX.Example.Com"),
    ],
)
def test_normalise_record_ignores_serial_case_and_dots(rdtype: str, first: str, second: str) -> None:
    assert normalise_record(rdtype, first) == normalise_record(rdtype, second)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("10 mx1.example.com.", "20 mx1.example.com."),  # a preference change is a change
        ('"v=spf1 -all"', '"v=spf1 ~all"'),
    ],
)
def test_normalise_record_keeps_real_differences(first: str, second: str) -> None:
    rdtype = "MX" if first[0].isdigit() else "TXT"
    assert normalise_record(rdtype, first) != normalise_record(rdtype, second)


def _rdatas(rdtype: str, *texts: str) -> list[dns.rdata.Rdata]:
    return [dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), text) for text in texts]


@pytest.mark.parametrize(
    ("rdtype", "texts", "expected"),
    [
        ("A", ["198.51.100.7", "192.0.2.1", "198.51.100.7"], ("192.0.2.1", "198.51.100.7")),
        ("NS", ["B.example.net.", "a.example.net.", "b.EXAMPLE.net."], ("a.example.net", "b.example.net")),
        ("AAAA", ["2001:db8::2", "2001:DB8:0::1"], ("2001:db8::1", "2001:db8::2")),
        ("TXT", [], ()),
    ],
)
def test_normalise_records_sorted_and_deduplicated(
    rdtype: str, texts: list[str], expected: tuple[str, ...]
) -> None:
    assert normalise_records(_rdatas(rdtype, *texts)) == expected
    assert normalise_records(reversed(_rdatas(rdtype, *texts))) == expected


def test_normalise_rdata_other_types_use_presentation_format() -> None:
    (rdata,) = _rdatas("SRV", "10 5 443 sip.example.com.")
    assert normalise_rdata(rdata) == "10 5 443 sip.example.com."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Example.COM.", "example.com"),
        ("example.com", "example.com"),
        (".", "."),
        ("xn--80ak6aa92e.com", "xn--80ak6aa92e.com"),
    ],
)
def test_normalise_name(text: str, expected: str) -> None:
    assert normalise_name(text) == expected


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("98.126.38.107", "107.38.126.98.in-addr.arpa"),
        (" 98.126.38.107 ", "107.38.126.98.in-addr.arpa"),
        ("2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"),
        ("example.com", None),
        ("300.1.1.1", None),
    ],
)
def test_reverse_name(ip: str, expected: str | None) -> None:
    assert reverse_name(ip) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.1", "192.0.2.1"),
        (" 2001:DB8::0:1 ", "2001:db8::1"),
        ("192.0.2.256", None),
        ("example.com", None),
        ("", None),
    ],
)
def test_canonical_ip(text: str, expected: str | None) -> None:
    assert canonical_ip(text) == expected
