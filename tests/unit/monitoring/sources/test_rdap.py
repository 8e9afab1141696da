"""RDAP ip network objects in, facts out; which redirects may be followed."""

from __future__ import annotations

import pytest

from bot.core.errors import SourceError
from bot.core.observations import Fact
from bot.monitoring.sources.rdap import network_facts, redirect_allowed
from tests.fakes.whois_server import ip_network_document


def values(facts: list[Fact], field: str) -> list[str]:
    return sorted(fact.value for fact in facts if fact.field == field)


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
