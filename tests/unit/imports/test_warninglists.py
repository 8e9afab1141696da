"""Tests for bot.imports.warninglists: MISP's matching per list type on small lists made here,
and the lists that ship in pymispwarninglists, compiled once."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot.imports.warninglists import WarningLists, warning_lists


def warning_list(
    name: str, kind: str, entries: list[str], matching: list[str] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "type": kind, "list": entries, "version": 1, "description": name}
    if matching is not None:
        body["matching_attributes"] = matching
    return body


LISTS = WarningLists(
    [
        warning_list(
            "exact names", "string", ["Exact.Example.com", ".suffix.example"], ["domain", "hostname"]
        ),
        warning_list("hosts", "hostname", ["hosted.example.org", "duckdns.org"], ["hostname", "domain"]),
        warning_list(
            "resolvers", "cidr", ["9.9.9.9", "149.112.112.0/24", "2620:fe::/48"], ["ip-dst", "ip-src"]
        ),
        warning_list("simulators", "substring", ["phish-sim"], ["domain", "ip-dst"]),
        warning_list("hashes", "string", ["d41d8cd98f00b204e9800998ecf8427e"], ["md5"]),
        warning_list("phones", "regex", ["/555/"], ["phone-number"]),
        warning_list("empty", "string", []),
        {**warning_list("a cloud", "cidr", ["98.126.0.0/16"], ["ip-dst"]), "folder": "amazon-aws"},
    ]
)


@pytest.mark.parametrize(
    ("domain", "lists"),
    [
        ("exact.example.com", ["exact names"]),
        ("www.exact.example.com", []),  # a string entry is that name only
        ("a.suffix.example", ["exact names"]),  # a leading dot: names under it too
        ("hosted.example.org", ["hosts"]),
        ("mail.hosted.example.org", ["hosts"]),  # under a hostname entry, same registrant
        ("duckdns.org", ["hosts"]),
        ("evil.duckdns.org", []),  # duckdns.org is a public suffix: anyone's name
        ("my-phish-sim.com", ["simulators"]),
        ("evil-infra.com", []),
    ],
)
def test_warninglists_domain_matching_follows_misp_types(domain: str, lists: list[str]) -> None:
    assert LISTS.domain_hits(domain) == lists


@pytest.mark.parametrize(
    ("address", "lists"),
    [
        ("9.9.9.9", ["resolvers"]),
        ("149.112.112.77", ["resolvers"]),
        ("149.112.113.1", []),
        ("2620:fe::fe", ["resolvers"]),
        ("2620:ff::1", []),
        ("98.126.38.107", []),  # in a cloud's range: anyone's server
    ],
)
def test_warninglists_address_matching_by_range(address: str, lists: list[str]) -> None:
    assert LISTS.address_hits(address) == lists


def test_warninglists_use_only_lists_for_domain_and_ip_types() -> None:
    assert LISTS.names == ["exact names", "hosts", "resolvers", "simulators"]
    assert LISTS.domain_hits("d41d8cd98f00b204e9800998ecf8427e") == []


def test_warninglists_shipped_lists_load_once_and_answer_fast() -> None:
    started = time.perf_counter()
    lists = warning_lists()
    assert warning_lists() is lists  # kept: compiled once per process
    assert len(lists.names) > 50
    assert "List of known google domains" in lists.domain_hits("google.com")
    assert "List of known google domains" in lists.domain_hits("mail.google.com")
    assert "List of known IPv4 public DNS resolvers" in lists.address_hits("8.8.8.8")
    assert lists.domain_hits("evil.duckdns.org") == []
    assert lists.domain_hits("evil-infra-7f3a.com") == []
    assert lists.address_hits("98.126.38.107") == []
    assert lists.address_hits("2a01:4f8:1c1c::7") == []  # a datacenter's range: rented, not benign
    assert lists.address_hits("52.95.110.1") == []  # AWS
    assert time.perf_counter() - started < 60  # about 1.5 s on a laptop; generous for CI
    looked = time.perf_counter()
    for n in range(1000):
        lists.domain_hits(f"host{n}.evil-infra-7f3a.com")
    assert time.perf_counter() - looked < 5  # a thousand lookups: tens of milliseconds
