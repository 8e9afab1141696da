"""RDAP ip network objects in, facts out; which redirects may be followed."""

from __future__ import annotations

import pytest

from bot.errors import SourceError
from bot.model.observations import Fact
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


@pytest.mark.parametrize("document", [[], {"objectClassName": "entity"}, "ip network", None])
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
