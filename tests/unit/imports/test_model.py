"""Tests for bot.imports.model: MISP events, STIX 2.1 bundles and lists in, each item's
outcome out (accepted, left out with a reason, or an error naming the item)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.errors import UserInputError
from bot.core.indicators import Indicator, parse_written_indicator
from bot.core.observations import IndicatorKind
from bot.imports.model import (
    ImportItem,
    IndicatorImport,
    ItemOutcome,
    Source,
    read_document,
    screen,
)

EVENT_UUID = "5f8e2d1c-0b6a-4c3e-9f1d-2a7b8c9d0e1f"
BUNDLE = "bundle--6ba7b810-9dad-41d1-80b4-00c04fd430c8"


def event(*attributes: dict[str, Any], objects: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "42",
        "uuid": EVENT_UUID,
        "info": "Phishing wave",
        "Attribute": list(attributes),
    }
    if objects is not None:
        body["Object"] = objects
    return {"Event": body}


def attribute(kind: str, value: str, *, to_ids: Any = True, deleted: bool = False) -> dict[str, Any]:
    return {"type": kind, "value": value, "to_ids": to_ids, "deleted": deleted, "uuid": EVENT_UUID}


def bundle(*objects: dict[str, Any]) -> dict[str, Any]:
    return {"type": "bundle", "id": BUNDLE, "objects": list(objects)}


def indicator(pattern: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-12-01T00:00:00Z",
        **extra,
    }


def outcomes(imported: IndicatorImport) -> list[tuple[ItemOutcome, str]]:
    return [(item.outcome, item.indicator.value if item.indicator else item.value) for item in imported.items]


# --- MISP --------------------------------------------------------------------------------


def test_imports_misp_event_reads_host_attributes_of_the_event_and_its_objects() -> None:
    imported = read_document(
        event(
            attribute("domain", "evil-infra.com"),
            attribute("hostname", "cdn.evil-infra.com"),
            attribute("ip-dst", "98.126.38.107"),
            attribute("url", "https://login.evil-infra.net/reset?u=1"),
            attribute("domain|ip", "mail.evil-infra.org|45.77.10.20"),
            attribute("ip-src|port", "185.220.101.4|9001"),
            attribute("hostname|port", "c2.evil-infra.io|443"),
            attribute("md5", "d41d8cd98f00b204e9800998ecf8427e"),
            attribute("email-src", "ceo@evil-infra.com"),
            objects=[
                {"name": "domain-ip", "Attribute": [attribute("ip-dst", "45.77.10.21")]},
                {"name": "url", "deleted": True, "Attribute": [attribute("url", "http://gone.example.net/")]},
            ],
        )
    )
    assert imported.source is Source.MISP and imported.tag == f"misp:{EVENT_UUID}"
    assert imported.title == "MISP event 42 (Phishing wave)"
    assert [i.value for i in imported.indicators] == [
        "evil-infra.com",
        "cdn.evil-infra.com",
        "98.126.38.107",
        "login.evil-infra.net",
        "mail.evil-infra.org",
        "45.77.10.20",
        "185.220.101.4",
        "c2.evil-infra.io",
        "45.77.10.21",
    ]
    assert imported.errors == [] and imported.left_out == []


def test_imports_misp_reads_only_attributes_for_detection_unless_all() -> None:
    document = event(
        attribute("domain", "evil-infra.com"),
        attribute("domain", "context.example.com", to_ids=False),
        attribute("ip-dst", "98.126.38.107", to_ids="0"),  # older MISP writes "0"/"1"
        attribute("ip-dst", "98.126.38.108", to_ids="1"),
        attribute("domain", "removed.evil-infra.com", deleted=True),
    )
    default = read_document(document)
    assert [i.value for i in default.indicators] == ["evil-infra.com", "98.126.38.108"]
    assert default.not_for_detection == 2
    every = read_document(document, all_attributes=True)
    assert [i.value for i in every.indicators] == [
        "evil-infra.com",
        "context.example.com",
        "98.126.38.107",
        "98.126.38.108",
    ]
    assert every.not_for_detection == 0


@pytest.mark.parametrize(
    ("kind", "value", "reason"),
    [
        ("ip-dst", "10.0.0.5", "a private address (10.0.0.0/8)"),
        ("ip-src", "192.168.1.10", "a private address (192.168.0.0/16)"),
        ("ip-dst|port", "127.0.0.1|8080", "a loopback address (127.0.0.0/8)"),
        ("ip-dst", "fe80::1", "a link-local address (fe80::/10)"),
        ("hostname", "printer.local", "a special-use name"),
        ("ip-dst", "10.0.0.0/8", "a private address (10.0.0.0/8)"),
        ("ip-dst", "45.77.10.0/24", "a range of addresses"),
        ("url", "http://172.16.0.3/admin", "a private address (172.16.0.0/12)"),
    ],
)
def test_imports_misp_leaves_out_private_reserved_and_ranges_with_the_reason(
    kind: str, value: str, reason: str
) -> None:
    imported = read_document(event(attribute(kind, value), attribute("domain", "evil-infra.com")))
    [left] = imported.left_out
    assert left.outcome is ItemOutcome.LEFT_OUT and reason in left.reason
    assert imported.errors == [] and [i.value for i in imported.indicators] == ["evil-infra.com"]


@pytest.mark.parametrize(
    ("kind", "value", "words"),
    [
        ("domain", "evil-infra[.]com", ["written defanged", "a bracketed dot", "evil-infra[.]com"]),
        ("url", "hxxps://evil-infra.com/x", ["written defanged", "`hxxps` as https", "evil-infra[.]com"]),
        ("domain", "evil-infra-dot-com", ["written defanged", "`-dot-` as a dot"]),
        ("domain", "not a domain", ["contains a space"]),
        ("domain|ip", "evil-infra.com", ["holds 2 values separated by `|`"]),
    ],
)
def test_imports_misp_refuses_values_it_cannot_read_naming_the_attribute(
    kind: str, value: str, words: list[str]
) -> None:
    imported = read_document(event(attribute(kind, value), attribute("domain", "evil-infra.com")))
    [error] = imported.errors
    assert error.item.startswith(f"{kind} attribute {EVENT_UUID}")
    for word in words:
        assert word in error.reason, (word, error.reason)


def test_imports_misp_event_needs_its_uuid_and_a_shape() -> None:
    with pytest.raises(UserInputError, match="uuid"):
        read_document({"Event": {"id": "1", "Attribute": []}})
    with pytest.raises(UserInputError, match="MISP event"):
        read_document({"Event": "not an event"})
    bare = read_document({"uuid": EVENT_UUID, "Attribute": [attribute("domain", "evil-infra.com")]})
    assert bare.source is Source.MISP and bare.title == f"MISP event {EVENT_UUID}"
    with pytest.raises(UserInputError, match=r"STIX 2\.1 bundle"):
        read_document({"something": "else"})
    with pytest.raises(UserInputError, match="more than one import takes"):
        read_document(event(*[attribute("domain", f"h{n}.evil-infra.com") for n in range(5001)]))


# --- STIX --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "values"),
    [
        ("[domain-name:value = 'evil-infra.com']", ["evil-infra.com"]),
        ("[ipv4-addr:value = '98.126.38.107']", ["98.126.38.107"]),
        ("[ipv6-addr:value = '2a01:4f8:1c1c::1']", ["2a01:4f8:1c1c::1"]),
        ("[url:value = 'https://login.evil-infra.net/a?b=1']", ["login.evil-infra.net"]),
        (
            "[domain-name:value = 'a.evil-infra.com' OR ipv4-addr:value = '98.126.38.107']",
            ["a.evil-infra.com", "98.126.38.107"],
        ),
        (
            "[domain-name:value = 'a.evil-infra.com'] AND [url:value = 'http://b.evil-infra.com/x']",
            ["a.evil-infra.com", "b.evil-infra.com"],
        ),
        (
            "([domain-name:value = 'a.evil-infra.com'] FOLLOWEDBY [ipv4-addr:value = '98.126.38.9']) "
            "WITHIN 600 SECONDS",
            ["a.evil-infra.com", "98.126.38.9"],
        ),
        ("[ipv4-addr:value IN ('98.126.38.1', '98.126.38.2')]", ["98.126.38.1", "98.126.38.2"]),
        ("[file:hashes.MD5 = 'abc' AND domain-name:value = 'drop.evil-infra.com']", ["drop.evil-infra.com"]),
        ("[domain-name:value = 'evil-infra.com'] REPEATS 3 TIMES", ["evil-infra.com"]),
    ],
)
def test_imports_stix_indicator_patterns_in_several_shapes(pattern: str, values: list[str]) -> None:
    imported = read_document(bundle(indicator(pattern)))
    assert imported.errors == [] and imported.left_out == []
    assert [i.value for i in imported.indicators] == values
    assert imported.tag == f"stix:{BUNDLE}" and imported.source is Source.STIX


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        ("[domain-name:value = 'evil-infra.com'", ["not valid STIX"]),
        ("domain-name:value = 'evil-infra.com'", ["not valid STIX"]),
        ("[domain-name:value LIKE '%.evil-infra.com']", ["LIKE", "does not name one value"]),
        ("[domain-name:value != 'evil-infra.com']", ["!=", "does not name one value"]),
        ("[ipv4-addr:value ISSUBSET '98.126.38.0/24']", ["ISSUBSET"]),
        ("[domain-name:resolves_to_refs[*].value = '98.126.38.1']", ["not the object's value"]),
        ("[domain-name:value = 'evil-infra[.]com']", ["written defanged"]),
        ("[url:value = 'hxxp://evil-infra.com/']", ["written defanged", "`hxxp` as http"]),
    ],
)
def test_imports_stix_refuses_bad_or_unsupported_patterns(pattern: str, words: list[str]) -> None:
    imported = read_document(
        bundle(indicator("[domain-name:value = 'ok.evil-infra.com']"), indicator(pattern))
    )
    [error] = imported.errors
    assert error.item.startswith("indicator--8e2e2d2b")
    for word in words:
        assert word in error.reason, (word, error.reason)


def test_imports_stix_leaves_out_what_names_no_host_and_ignores_other_objects() -> None:
    imported = read_document(
        bundle(
            indicator("[file:hashes.'SHA-256' = 'aa']"),
            indicator("rule x { condition: true }", pattern_type="yara"),
            indicator("[domain-name:value = 'old.evil-infra.com']", revoked=True),
            indicator("[ipv4-addr:value = '10.1.2.3']"),
            {"type": "malware", "id": "malware--1", "name": "x", "is_family": False},
            {"type": "identity", "id": "identity--1", "name": "CIRCL"},
        )
    )
    reasons = [item.reason for item in imported.left_out]
    assert "its pattern names no domain, IP or URL (it compares file:hashes.SHA-256)" in reasons
    assert "a yara pattern: only STIX patterns name indicators" in reasons
    assert "revoked" in reasons and "a private address (10.0.0.0/8)" in reasons
    assert imported.indicators == [] and imported.errors == []


def test_imports_stix_observed_data_by_reference_and_inline() -> None:
    imported = read_document(
        bundle(
            {
                "type": "observed-data",
                "id": "observed-data--1",
                "object_refs": ["domain-name--1", "ipv4-addr--1", "network-traffic--1", "url--404"],
            },
            {"type": "domain-name", "id": "domain-name--1", "value": "seen.evil-infra.com"},
            {"type": "ipv4-addr", "id": "ipv4-addr--1", "value": "98.126.38.50"},
            {"type": "network-traffic", "id": "network-traffic--1", "dst_ref": "ipv4-addr--1"},
            {
                "type": "observed-data",
                "id": "observed-data--2",
                "objects": {
                    "0": {"type": "url", "value": "http://old.evil-infra.com/x"},
                    "1": {"type": "file"},
                },
            },
        )
    )
    assert [i.value for i in imported.indicators] == [
        "seen.evil-infra.com",
        "98.126.38.50",
        "old.evil-infra.com",
    ]
    [missing] = imported.left_out
    assert missing.value == "url--404" and missing.reason == "not in the bundle"


def test_imports_stix_bundle_needs_its_id() -> None:
    with pytest.raises(UserInputError, match="bundle--"):
        read_document({"type": "bundle", "id": "bundle--nope", "objects": []})


# --- lists and screening ---------------------------------------------------------------------


def test_imports_list_is_read_like_the_slash_command_refanging_included() -> None:
    imported = read_document(["evil-infra[.]com", "hxxps://login.evil-infra.net/x", "10.0.0.1", "nope"])
    assert outcomes(imported) == [
        (ItemOutcome.ACCEPTED, "evil-infra.com"),
        (ItemOutcome.ACCEPTED, "login.evil-infra.net"),
        (ItemOutcome.LEFT_OUT, "10.0.0.1"),
        (ItemOutcome.ERROR, "nope"),
    ]
    assert read_document("a.evil-infra.com, b.evil-infra.com").source is Source.LIST


def test_imports_screen_leaves_out_what_warning_lists_name() -> None:
    imported = read_document(event(attribute("domain", "google.com"), attribute("domain", "evil-infra.com")))

    def hits(found: Indicator) -> list[str]:
        return ["List of known google domains", "Top 1000 website from Alexa", "Tranco"] * (
            found.value == "google.com"
        )

    screened = screen(imported, hits)
    [left] = screened.left_out
    assert left.value == "google.com" and left.warning_lists[0] == "List of known google domains"
    assert left.reason == (
        "on MISP warning lists “List of known google domains”, “Top 1000 website from Alexa” and 1 more"
    )
    assert screened.indicators == [Indicator("evil-infra.com", IndicatorKind.DOMAIN)]


def test_imports_written_indicator_reads_values_exactly_as_given() -> None:
    assert parse_written_indicator("https://EVIL-infra.com:8443/x") == Indicator(
        "evil-infra.com", IndicatorKind.DOMAIN
    )
    assert parse_written_indicator("[2a01:4f8::1]:443") == Indicator("2a01:4f8::1", IndicatorKind.IP)


def test_imports_left_out_lists_each_value_once() -> None:
    item = ImportItem("x", "10.0.0.1", ItemOutcome.LEFT_OUT, reason="a private address (10.0.0.0/8)")
    imported = IndicatorImport(Source.LIST, "the list", (item, item))
    assert imported.left_out == [item]
