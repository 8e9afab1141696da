"""Pure parts of the whois dataset: WHOIS normalisation, RDAP objects, Cymru ASN replies, certs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bot.errors import SourceError
from bot.model.observations import Fact
from bot.monitoring.sources.asn import as_name, origin_asn, origin_query_name
from bot.monitoring.sources.rdap import network_facts, redirect_allowed
from bot.monitoring.sources.tls_probe import certificate_facts
from bot.monitoring.sources.whois import normalise_whois, parse_whois
from tests.fakes.whois_server import (
    ip_network_document,
    make_self_signed,
    not_found_text,
    registrar_text,
    registry_text,
)


def values(facts: list[Fact], field: str) -> list[str]:
    return sorted(fact.value for fact in facts if fact.field == field)


# -- WHOIS normalisation ---------------------------------------------------------------------


def test_normalise_whois_dates_are_utc_days() -> None:
    plus_ten = timezone(timedelta(hours=10))
    facts = normalise_whois(
        {
            # 2021-03-05 03:00 at +10:00 is still 2021-03-04 in UTC.
            "creation_date": datetime(2021, 3, 5, 3, 0, tzinfo=plus_ten),
            "expiration_date": datetime(2026, 3, 4, 23, 30),  # naive: taken as UTC
        }
    )
    assert values(facts, "creation_date") == ["2021-03-04"]
    assert values(facts, "expiration_date") == ["2026-03-04"]


def test_normalise_whois_date_lists_take_earliest_creation_latest_expiry() -> None:
    facts = normalise_whois(
        {
            "creation_date": [datetime(2021, 3, 4, tzinfo=UTC), datetime(2020, 1, 2, tzinfo=UTC)],
            "expiration_date": [date(2025, 1, 1), datetime(2027, 6, 7, tzinfo=UTC), "not a date"],
        }
    )
    assert values(facts, "creation_date") == ["2020-01-02"]
    assert values(facts, "expiration_date") == ["2027-06-07"]


def test_normalise_whois_name_servers_lower_case_without_trailing_dot() -> None:
    facts = normalise_whois(
        {"name_servers": ["NS1.Evil-DNS.test.", "ns1.evil-dns.test", "ns2.evil-dns.test 192.0.2.53"]}
    )
    assert values(facts, "name_server") == ["ns1.evil-dns.test", "ns2.evil-dns.test"]


def test_normalise_whois_single_name_server_as_string() -> None:
    assert values(normalise_whois({"name_servers": "NS.EXAMPLE.TEST"}), "name_server") == ["ns.example.test"]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (
            "clientTransferProhibited https://icann.org/epp#clientTransferProhibited",
            "clientTransferProhibited",
        ),
        (
            "clientTransferProhibited (https://www.icann.org/epp#clientTransferProhibited)",
            "clientTransferProhibited",
        ),
        ("CLIENTHOLD", "clientHold"),
        ("client transfer prohibited", "clientTransferProhibited"),
        ("ok https://icann.org/epp#ok", "ok"),
        ("Registered until expiry date.", "Registered until expiry date"),
    ],
)
def test_normalise_whois_status_keeps_only_the_code(raw: str, code: str) -> None:
    assert values(normalise_whois({"status": [raw]}), "status") == [code]


def test_normalise_whois_status_one_fact_per_code() -> None:
    facts = normalise_whois(
        {"status": ["serverHold https://icann.org/epp#serverHold", "serverHold", "clientHold"]}
    )
    assert values(facts, "status") == ["clientHold", "serverHold"]


@pytest.mark.parametrize(
    "redacted",
    [
        "REDACTED FOR PRIVACY",
        "Data Protected",
        "Privacy service provided by Withheld for Privacy ehf",
        "Statutory Masking Enabled",
        "Not Disclosed",
    ],
)
def test_normalise_whois_redaction_is_absence(redacted: str) -> None:
    facts = normalise_whois({"registrar": "Evil Registrar", "org": redacted, "registrant_email": redacted})
    assert values(facts, "registrant_org") == []
    assert values(facts, "registrant_email") == []
    assert values(facts, "registrar") == ["Evil Registrar"]


def test_normalise_whois_registrant_org_first_unredacted_value_and_email_lower_case() -> None:
    facts = normalise_whois(
        {
            "registrant_organization": ["REDACTED FOR PRIVACY", "  Evil   Corp  "],
            "registrant_email": "Boss@Evil.TEST",
        }
    )
    assert values(facts, "registrant_org") == ["Evil Corp"]
    assert values(facts, "registrant_email") == ["boss@evil.test"]


def test_normalise_whois_registrant_email_from_text_when_parser_has_none() -> None:
    text = "Registrant Email: Someone@Evil.test\nAdmin Email: admin@evil.test\n"
    assert values(normalise_whois({}, text), "registrant_email") == ["someone@evil.test"]


def test_normalise_whois_email_without_at_sign_is_absent() -> None:
    text = "Registrant Email: https://registrar.test/contact-the-registrant\n"
    assert values(normalise_whois({}, text), "registrant_email") == []


def test_normalise_whois_ignores_updated_date_and_other_fields() -> None:
    facts = normalise_whois(
        {
            "updated_date": datetime(2024, 1, 1, tzinfo=UTC),
            "emails": ["abuse@registrar.test"],
            "dnssec": "unsigned",
            "whois_server": "whois.registrar.test",
            "registrar": "R",
        }
    )
    assert {fact.field for fact in facts} == {"registrar"}


def test_parse_whois_registry_text() -> None:
    facts = parse_whois("evil.com", registry_text("evil.com"))
    assert values(facts, "registrar") == ["Evil Registrar, LLC"]
    assert values(facts, "creation_date") == ["2021-03-04"]
    assert values(facts, "expiration_date") == ["2026-03-04"]
    assert values(facts, "name_server") == ["ns1.evil-dns.test", "ns2.evil-dns.test"]
    assert values(facts, "status") == ["clientDeleteProhibited", "clientTransferProhibited"]
    assert values(facts, "registrant_org") == []
    assert all(fact.source == "whois" for fact in facts)


def test_parse_whois_registrar_text_has_registrant() -> None:
    facts = parse_whois("evil.com", registrar_text("evil.com"))
    assert values(facts, "registrant_org") == ["Evil Corp Ltd"]
    assert values(facts, "registrant_email") == ["boss@evil-corp.test"]
    assert values(facts, "name_server") == ["ns1.evil-dns.test", "ns2.evil-dns.test"]


def test_parse_whois_updated_date_and_last_update_line_change_nothing() -> None:
    before = parse_whois("evil.com", registry_text("evil.com"))
    after = parse_whois(
        "evil.com",
        registry_text("evil.com", updated="2025-01-02T03:04:05Z", last_update="2025-01-03T00:00:00Z"),
    )
    assert set(before) == set(after)


@pytest.mark.parametrize("domain", ["nothere.com", "nothere.xyz", "nothere.test"])
def test_parse_whois_no_match_is_not_registered(domain: str) -> None:
    # .com's python-whois parser raises WhoisDomainNotFoundError; generic ones parse to nothing.
    assert parse_whois(domain, not_found_text(domain)) == [Fact("status", "not registered", "whois")]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage\n",
        "% Quota exceeded, try again later\n",
        # What python-whois's socket failure text parses to: every field None.
        "Socket not responding: [Errno 111] Connection refused\n",
    ],
)
def test_parse_whois_reply_without_fields_is_an_error(text: str) -> None:
    with pytest.raises(SourceError, match="no WHOIS fields"):
        parse_whois("evil.com", text)


def test_parse_whois_unreadable_date_drops_only_that_line() -> None:
    text = registry_text("evil.com").replace("2021-03-04T05:06:07Z", "in the spring of the year 99zz")
    facts = parse_whois("evil.com", text)
    assert values(facts, "creation_date") == []
    assert values(facts, "registrar") == ["Evil Registrar, LLC"]


# -- RDAP ------------------------------------------------------------------------------------


def test_network_facts_from_arin_style_object() -> None:
    facts = network_facts(ip_network_document())
    assert sorted((f.field, f.value) for f in facts) == [
        ("cidr", "192.0.2.0/24"),
        ("country", "US"),
        ("handle", "NET-192-0-2-0-1"),
        ("network_name", "EVIL-HOSTING-NET"),
        ("org", "Evil Hosting Inc."),
    ]


def test_network_facts_cidr_from_start_end_when_no_cidr0() -> None:
    document = ip_network_document(start="192.0.2.0", end="192.0.3.127", cidr0=False)
    assert values(network_facts(document), "cidr") == ["192.0.2.0/24", "192.0.3.0/25"]


def test_network_facts_org_falls_back_to_administrative_role() -> None:
    document = ip_network_document()
    document["entities"][1]["roles"] = ["administrative", "technical"]
    assert values(network_facts(document), "org") == ["Evil Hosting Inc."]
    document["entities"][1]["roles"] = ["technical"]
    assert values(network_facts(document), "org") == []


def test_network_facts_accepts_a_legacy_reply_without_object_class_name() -> None:
    document = ip_network_document(cidr0=False)
    del document["objectClassName"]
    facts = network_facts(document)
    assert values(facts, "cidr") == ["192.0.2.0/24"] and values(facts, "network_name") == ["EVIL-HOSTING-NET"]


@pytest.mark.parametrize(
    ("start", "end", "cidrs"),
    [
        ("074.125.000.000", "074.125.255.255", ["74.125.0.0/16"]),  # ARIN's zero-padded legacy form
        ("008.008.008.000", "008.008.008.255", ["8.8.8.0/24"]),
        (
            "2001:0db8:0000:0000:0000:0000:0000:0000",
            "2001:0db8:0000:0000:ffff:ffff:ffff:ffff",
            ["2001:db8::/64"],
        ),
        ("not an address", "192.0.2.255", []),  # never the range's text as a "CIDR"
    ],
)
def test_network_facts_normalises_ranges(start: str, end: str, cidrs: list[str]) -> None:
    document = ip_network_document(start=start, end=end, cidr0=False)
    assert values(network_facts(document), "cidr") == cidrs


def test_network_facts_normalises_zero_padded_cidr0_prefixes() -> None:
    document = ip_network_document(start="074.125.000.000", end="074.125.255.255", cidr0=False)
    document["cidr0_cidrs"] = [{"v4prefix": "074.125.000.000", "length": 16}]
    assert values(network_facts(document), "cidr") == ["74.125.0.0/16"]


@pytest.mark.parametrize(
    "document", [[], {"objectClassName": "entity"}, "ip network", None, {"handle": "X"}, {"ldhName": "a.com"}]
)
def test_network_facts_rejects_other_objects(document: object) -> None:
    with pytest.raises(SourceError):
        network_facts(document)


@pytest.mark.parametrize(
    ("base", "target", "allowed"),
    [
        ("https://rdap.org/", "https://rdap.arin.net/registry/ip/8.8.8.8", True),
        ("https://rdap.org/", "http://rdap.arin.net/registry/ip/8.8.8.8", False),
        ("https://rdap.org/", "https://127.0.0.1/ip/8.8.8.8", False),
        ("https://rdap.org/", "https://10.0.0.5/ip/8.8.8.8", False),
        ("https://rdap.org/", "https://[::1]/ip/8.8.8.8", False),
        ("https://rdap.org/", "https://localhost/ip/8.8.8.8", False),
        ("https://rdap.org/", "ftp://rdap.arin.net/ip/8.8.8.8", False),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/rir/ip/8.8.8.8", True),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:9090/rir/ip/8.8.8.8", False),
        ("http://127.0.0.1:8080/", "https://127.0.0.1:9090/rir/ip/8.8.8.8", True),
        ("http://127.0.0.1:8080/", "https://192.168.1.1/ip/8.8.8.8", True),
        ("http://10.1.1.1:8080/", "https://192.168.1.1/ip/8.8.8.8", False),
    ],
)
def test_redirect_allowed(base: str, target: str, allowed: bool) -> None:
    assert redirect_allowed(base, target) is allowed


# -- Team Cymru ASN --------------------------------------------------------------------------


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


# -- certificates ----------------------------------------------------------------------------


def test_certificate_facts_from_der() -> None:
    pem, _ = make_self_signed("c2.evil.test", ("C2.Evil.test.", "cdn.evil.test"), ("192.0.2.7",))
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    facts = certificate_facts(der)
    assert values(facts, "tls_san") == ["192.0.2.7", "c2.evil.test", "cdn.evil.test"]
    assert values(facts, "tls_subject") == ["O=Watchpost Test,CN=c2.evil.test"]
    assert values(facts, "tls_issuer") == ["O=Watchpost Test,CN=c2.evil.test"]
    assert len(values(facts, "tls_fingerprint")[0]) == 64


def test_certificate_facts_garbage_is_source_error() -> None:
    with pytest.raises(SourceError):
        certificate_facts(b"not a certificate")
