"""Alerts as STIX 2.1 bundles (bot/alerts/messages/stix.py): each dataset's values as the observables
a receiver expects, the relationships between them and the monitored value, the sighting,
and ids that are the same for the same alert. Every bundle passes the OASIS validator."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.alerts.messages.stix import IDENTITY_ID, alert_bundle, alerts_bundle
from bot.alerts.store.alerts import AlertRecord
from bot.core.observations import Change, ChangeKind, IndicatorKind
from tests.fakes.stix import by_type, one, relationships, validate_bundle, values

AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
DOMAIN = "evil-infra.com"
IP = "98.126.38.107"


def change(
    dataset: str,
    field: str,
    new: str | None,
    old: str | None = None,
    *,
    source: str = "dns",
    first_seen: datetime | None = None,
) -> Change:
    kind = ChangeKind.ADDED if old is None else ChangeKind.REMOVED if new is None else ChangeKind.CHANGED
    return Change(dataset, kind, field, old, new, source, first_seen, None)


def alert(indicator: str, *changes: Change, batch: str = "check-1", alert_id: int = 7) -> AlertRecord:
    kind = IndicatorKind.DOMAIN if indicator[-1].isalpha() else IndicatorKind.IP
    return AlertRecord(alert_id, 1, indicator, kind, batch, AT, changes=changes)


def bundle_of(indicator: str, *changes: Change) -> dict[str, Any]:
    return validate_bundle(alert_bundle(alert(indicator, *changes)))


def extension_changes(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    [extension] = one(bundle, "observed-data")["extensions"].values()
    changes: list[dict[str, Any]] = extension["changes"]
    return changes


def note_lines(bundle: dict[str, Any]) -> list[str]:
    notes = by_type(bundle, "note")
    return notes[0]["content"].splitlines() if notes else []


def test_stix_domain_resolutions_resolve_to_their_addresses() -> None:
    bundle = bundle_of(
        DOMAIN,
        change("resolutions", "A", "203.0.113.7", first_seen=datetime(2026, 1, 2, tzinfo=UTC)),
        change("resolutions", "AAAA", "2001:db8::7"),
        change("resolutions", "pdns:A", "198.51.100.9", source="mnemonic"),
        change("resolutions", "pdns:CNAME", "cdn.example.net", source="mnemonic"),
    )
    assert values(bundle, "ipv4-addr") == {"203.0.113.7", "198.51.100.9"}
    assert values(bundle, "ipv6-addr") == {"2001:db8::7"}
    assert values(bundle, "domain-name") == {DOMAIN, "cdn.example.net"}
    assert relationships(bundle) == {
        ("resolves-to", DOMAIN, "203.0.113.7"),
        ("resolves-to", DOMAIN, "2001:db8::7"),
        ("resolves-to", DOMAIN, "198.51.100.9"),
        ("resolves-to", DOMAIN, "cdn.example.net"),
    }
    starts = {r.get("start_time") for r in by_type(bundle, "relationship")}
    assert starts == {"2026-01-02T00:00:00Z", None}  # passive DNS's first sighting, where known
    assert note_lines(bundle) == []  # every value has its observable


def test_stix_indicator_sighting_and_observed_data_tie_together() -> None:
    bundle = bundle_of(DOMAIN, change("resolutions", "A", "203.0.113.7"))
    indicator = one(bundle, "indicator")
    assert indicator["pattern"] == f"[domain-name:value = '{DOMAIN}']"
    assert indicator["pattern_type"] == "stix" and indicator["valid_from"] == "2026-12-06T12:00:00Z"
    sighting = one(bundle, "sighting")
    observed = one(bundle, "observed-data")
    assert sighting["sighting_of_ref"] == indicator["id"]
    assert sighting["observed_data_refs"] == [observed["id"]]
    assert sighting["where_sighted_refs"] == [IDENTITY_ID] == [one(bundle, "identity")["id"]]
    assert (sighting["first_seen"], sighting["last_seen"], sighting["count"]) == (
        "2026-12-06T12:00:00Z",
        "2026-12-06T12:00:00Z",
        1,
    )
    [extension] = sighting["extensions"].values()
    assert (extension["alert_id"], extension["check_id"]) == (7, "check-1")
    scos = {obj["id"] for obj in bundle["objects"] if obj["type"] in ("domain-name", "ipv4-addr")}
    rels = {obj["id"] for obj in by_type(bundle, "relationship")}
    assert set(observed["object_refs"]) == scos | rels
    made = [o for o in bundle["objects"] if "created" in o and o["type"] not in ("identity",)]
    assert all(o["created_by_ref"] == IDENTITY_ID for o in made)


def test_stix_ip_names_from_passive_dns_resolve_to_it_and_ptr_is_related() -> None:
    bundle = bundle_of(
        IP,
        change("resolutions", "domain", "www.interfaxru.com", source="mnemonic"),
        change("resolutions", "PTR", "host.example.net"),
    )
    assert one(bundle, "indicator")["pattern"] == f"[ipv4-addr:value = '{IP}']"
    assert relationships(bundle) == {
        ("resolves-to", "www.interfaxru.com", IP),
        ("related-to", IP, "host.example.net"),  # a PTR is not a forward resolution
    }


def test_stix_ipv6_indicator() -> None:
    bundle = bundle_of("2001:db8::1", change("resolutions", "PTR", "v6.example.net"))
    assert one(bundle, "indicator")["pattern"] == "[ipv6-addr:value = '2001:db8::1']"
    assert values(bundle, "ipv6-addr") == {"2001:db8::1"}


def test_stix_dns_records_ns_and_mx_are_names_txt_and_soa_go_to_the_note() -> None:
    bundle = bundle_of(
        DOMAIN,
        change("dns_records", "NS", "ns1.bad-dns.net"),
        change("dns_records", "MX", "10 mail.evil-infra.com"),
        change("dns_records", "TXT", "v=spf1 -all"),
        change("dns_records", "SOA", "ns1.bad-dns.net hostmaster.bad-dns.net", "a.ns b.ns"),
    )
    assert values(bundle, "domain-name") == {DOMAIN, "ns1.bad-dns.net", "mail.evil-infra.com"}
    assert relationships(bundle) == {
        ("related-to", DOMAIN, "ns1.bad-dns.net"),
        ("related-to", DOMAIN, "mail.evil-infra.com"),
    }
    assert note_lines(bundle) == [
        "dns_records TXT added: v=spf1 -all (source: dns)",
        "dns_records SOA changed: a.ns b.ns → ns1.bad-dns.net hostmaster.bad-dns.net (source: dns)",
    ]
    assert one(bundle, "note")["object_refs"] == [
        one(bundle, "indicator")["id"],
        one(bundle, "observed-data")["id"],
    ]


def test_stix_ct_certificate_and_subdomain() -> None:
    bundle = bundle_of(
        DOMAIN,
        change(
            "certificates",
            "certificate",
            "R11 serial 04AB12 (2026-11-01..2027-01-30) names: evil-infra.com, www.evil-infra.com",
            source="crtsh",
        ),
        change("subdomains", "subdomain", "login.evil-infra.com", source="crtsh"),
    )
    certificate = one(bundle, "x509-certificate")
    assert (certificate["issuer"], certificate["serial_number"]) == ("R11", "04ab12")
    assert certificate["x509_v3_extensions"] == {
        "subject_alternative_name": "DNS:evil-infra.com, DNS:www.evil-infra.com"
    }
    assert values(bundle, "domain-name") == {DOMAIN, "login.evil-infra.com"}
    assert ("related-to", DOMAIN, "login.evil-infra.com") in relationships(bundle)


def test_stix_served_certificate_by_fingerprint_with_its_subject() -> None:
    fingerprint = "ab" * 32
    bundle = bundle_of(
        IP,
        change("certificates", "tls_fingerprint", fingerprint, "cd" * 32, source="tls"),
        change("certificates", "tls_subject", "CN=evil-infra.com", "CN=old.example", source="tls"),
        change("certificates", "tls_san", "*.evil-infra.com", source="tls"),
        change("certificates", "tls_san", "evil-infra.com", source="tls"),
    )
    certificate = one(bundle, "x509-certificate")
    assert certificate["hashes"] == {"SHA-256": fingerprint}
    assert certificate["subject"] == "CN=evil-infra.com"  # folded in: not in the note
    assert values(bundle, "domain-name") == {"evil-infra.com"}
    assert note_lines(bundle) == ["certificates tls_san added: *.evil-infra.com (source: tls)"]  # a wildcard


def test_stix_domain_whois_email_is_an_observable_the_rest_goes_to_the_note() -> None:
    bundle = bundle_of(
        DOMAIN,
        change("whois", "registrar", "NameCheap, Inc.", "GoDaddy.com, LLC", source="rdap"),
        change("whois", "registrant_email", "bad@proton.me", source="rdap"),
        change("whois", "name_server", "ns2.bad-dns.net", source="rdap"),
        change("whois", "expiration_date", "2027-01-01", "2026-01-01", source="rdap"),
    )
    assert values(bundle, "email-addr") == {"bad@proton.me"}
    assert values(bundle, "domain-name") == {DOMAIN, "ns2.bad-dns.net"}
    assert note_lines(bundle) == [
        "whois registrar changed: GoDaddy.com, LLC → NameCheap, Inc. (source: rdap)",
        "whois expiration_date changed: 2026-01-01 → 2027-01-01 (source: rdap)",
    ]


def test_stix_ip_whois_asn_belongs_to_and_network_is_an_address_range() -> None:
    bundle = bundle_of(
        IP,
        change("whois", "asn", "AS13335", "AS15169", source="asn"),
        change("whois", "as_name", "CLOUDFLARENET", "GOOGLE", source="asn"),
        change("whois", "cidr", "98.126.0.0/16", source="rdap"),
        change("whois", "country", "NL", "US", source="rdap"),
    )
    system = one(bundle, "autonomous-system")
    assert (system["number"], system["name"]) == (13335, "CLOUDFLARENET")
    assert values(bundle, "ipv4-addr") == {IP, "98.126.0.0/16"}
    assert ("belongs-to", IP, "13335") in relationships(bundle)
    assert note_lines(bundle) == ["whois country changed: US → NL (source: rdap)"]


def test_stix_folded_values_alone_go_to_the_note() -> None:
    """An AS name or a certificate subject changing without its AS or certificate."""
    bundle = bundle_of(
        IP,
        change("whois", "as_name", "CLOUDFLARENET", "CLOUDFLARE", source="asn"),
        change("certificates", "tls_subject", "CN=b.example", "CN=a.example", source="tls"),
    )
    assert by_type(bundle, "autonomous-system") == [] and by_type(bundle, "x509-certificate") == []
    assert note_lines(bundle) == [
        "whois as_name changed: CLOUDFLARE → CLOUDFLARENET (source: asn)",
        "certificates tls_subject changed: CN=a.example → CN=b.example (source: tls)",
    ]


def test_stix_services_ports_software_and_the_rest() -> None:
    bundle = bundle_of(
        IP,
        change("services", "port", "8443", source="internetdb"),
        change("services", "cpe", "cpe:/a:openbsd:openssh:8.2p1", source="internetdb"),
        change("services", "cpe", "cpe:2.3:a:nginx:nginx:1.18.0:*:*:*:*:*:*:*", source="internetdb"),
        change("services", "hostname", "srv.example.org", source="internetdb"),
        change("services", "vuln", "CVE-2021-44228", source="internetdb"),
        change("services", "tag", "self-signed", source="internetdb"),
    )
    traffic = one(bundle, "network-traffic")
    ip_id = next(o["id"] for o in by_type(bundle, "ipv4-addr") if o["value"] == IP)
    assert (traffic["dst_ref"], traffic["dst_port"], traffic["protocols"]) == (ip_id, 8443, ["ipv4"])
    software = {(s["vendor"], s["name"], s["version"], s.get("cpe")) for s in by_type(bundle, "software")}
    assert software == {
        ("openbsd", "openssh", "8.2p1", None),  # a CPE 2.2 URI is not kept as `cpe` (2.3 only)
        ("nginx", "nginx", "1.18.0", "cpe:2.3:a:nginx:nginx:1.18.0:*:*:*:*:*:*:*"),
    }
    assert values(bundle, "domain-name") == {"srv.example.org"}
    assert note_lines(bundle) == [
        "services vuln added: CVE-2021-44228 (source: internetdb)",
        "services tag added: self-signed (source: internetdb)",
    ]


def test_stix_removed_values_are_no_observables_but_are_recorded() -> None:
    bundle = bundle_of(DOMAIN, change("resolutions", "A", None, "198.51.100.1"))
    assert values(bundle, "ipv4-addr") == set() and by_type(bundle, "relationship") == []
    assert one(bundle, "observed-data")["object_refs"] == [one(bundle, "domain-name")["id"]]
    assert note_lines(bundle) == ["resolutions A removed: 198.51.100.1 (source: dns)"]
    assert extension_changes(bundle) == [
        {
            "dataset": "resolutions",
            "change": "removed",
            "field": "A",
            "old_value": "198.51.100.1",
            "source": "dns",
        }
    ]


def test_stix_extension_lists_every_change_with_the_observable_it_became() -> None:
    bundle = bundle_of(
        DOMAIN,
        change("resolutions", "A", "203.0.113.7", first_seen=datetime(2026, 1, 2, tzinfo=UTC)),
        change("whois", "registrar", "NameCheap, Inc.", "GoDaddy.com, LLC", source="rdap"),
    )
    ip_id = one(bundle, "ipv4-addr")["id"]
    assert extension_changes(bundle) == [
        {
            "dataset": "resolutions",
            "change": "added",
            "field": "A",
            "new_value": "203.0.113.7",
            "source": "dns",
            "first_seen": "2026-01-02T00:00:00.000Z",
            "object_ref": ip_id,
        },
        {
            "dataset": "whois",
            "change": "changed",
            "field": "registrar",
            "old_value": "GoDaddy.com, LLC",
            "new_value": "NameCheap, Inc.",
            "source": "rdap",
        },
    ]
    assert one(bundle, "extension-definition")["extension_types"] == ["property-extension"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("A", "not-an-address"),
        ("CNAME", "spaces in name"),
        ("asn", "ASXYZ"),
        ("registrant_email", "nobody"),
        ("certificate", "garbled"),
        ("cpe", "cpe:/a"),
        ("port", "99999"),
        ("tls_fingerprint", "not-hex"),
    ],
)
def test_stix_values_an_observable_cannot_hold_go_to_the_note(field: str, value: str) -> None:
    bundle = bundle_of(IP, change("resolutions", field, value, source="x"))
    assert [o["type"] for o in bundle["objects"] if o["type"] not in NON_SCO] == ["ipv4-addr"]
    assert note_lines(bundle) == [f"resolutions {field} added: {value} (source: x)"]


NON_SCO = {"identity", "extension-definition", "indicator", "observed-data", "sighting", "note"}


def test_stix_same_alert_same_bundle_other_alert_other_objects_same_observables() -> None:
    first = alert(DOMAIN, change("resolutions", "A", "203.0.113.7"))
    assert alert_bundle(first) == alert_bundle(replace(first))
    second = replace(first, id=8, batch_id="check-2", detected_at=AT.replace(hour=13))
    a, b = alert_bundle(first), alert_bundle(second)
    ids_a = {o["id"]: o["type"] for o in a["objects"]}
    ids_b = {o["id"]: o["type"] for o in b["objects"]}
    shared = {kind for object_id, kind in ids_a.items() if object_id in ids_b}
    assert shared == {"identity", "extension-definition", "domain-name", "ipv4-addr"}
    assert a["id"] != b["id"]


def test_stix_a_narrowed_alert_gets_its_own_ids() -> None:
    """A channel's webhook leaves out what the channel muted: other content, other ids."""
    full = alert(DOMAIN, change("resolutions", "A", "203.0.113.7"), change("whois", "registrar", "X", "Y"))
    narrowed = replace(full, changes=full.changes[:1])
    sighting = {one(validate_bundle(alert_bundle(a)), "sighting")["id"] for a in (full, narrowed)}
    assert len(sighting) == 2


def test_stix_list_bundle_holds_each_object_once() -> None:
    alerts = [
        alert(DOMAIN, change("resolutions", "A", "203.0.113.7"), batch="check-1", alert_id=1),
        alert(IP, change("resolutions", "domain", DOMAIN, source="mnemonic"), batch="check-2", alert_id=2),
    ]
    bundle = validate_bundle(alerts_bundle(alerts))
    assert len(by_type(bundle, "identity")) == 1 and len(by_type(bundle, "sighting")) == 2
    assert values(bundle, "domain-name") == {DOMAIN} and len(by_type(bundle, "domain-name")) == 1
    singles = [alert_bundle(a)["objects"] for a in alerts]
    assert {o["id"] for o in bundle["objects"]} == {o["id"] for objects in singles for o in objects}


def test_stix_empty_list_is_a_bundle_without_objects() -> None:
    bundle = validate_bundle(alerts_bundle([]))
    assert set(bundle) == {"type", "id"}
