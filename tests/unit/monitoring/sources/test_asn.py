"""Team Cymru's origin and AS name TXT replies in, an ASN and a name out."""

from __future__ import annotations

from bot.monitoring.sources.asn import as_name, origin_asn, origin_query_name


def test_origin_query_name_ipv4_and_ipv6() -> None:
    assert origin_query_name("8.8.4.1") == "1.4.8.8.origin.asn.cymru.com"
    assert origin_query_name("2001:db8::1") == (
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.origin6.asn.cymru.com"
    )


def test_origin_asn_most_specific_prefix_then_lowest_asn() -> None:
    records = (
        "3356 | 8.0.0.0/9 | US | arin | 1992-12-01",
        "15169 | 8.8.8.0/24 | US | arin | 2023-12-28",
        '"20940 16625 | 8.8.8.0/24 | US | arin | 2023-12-28"',
    )
    assert origin_asn(records) == 15169
    assert origin_asn(("13335 209242 | 104.16.0.0/13 | US | arin | 2014-03-28",)) == 13335
    assert origin_asn(()) is None
    assert origin_asn(("garbage",)) is None


def test_as_name() -> None:
    assert as_name(("15169 | US | arin | 2000-03-30 | GOOGLE, US",)) == "GOOGLE, US"
    assert as_name(("15169 | US | arin",)) is None
