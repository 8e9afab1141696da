"""RDAP domain replies (RFC 9083) as registries and registrars serve them, for the fake
RDAP service in tests/fakes/http_sources.py. Written from RFC 9083/9537/8056 and the
shapes registries are observed to send (a thin .com registry linking to its registrar,
a .org registry redacting per RFC 9537, a ccTLD registry with no registrar link);
the domains, people and dates are invented."""

from __future__ import annotations

from typing import Any

CONFORMANCE = ["rdap_level_0", "icann_rdap_technical_implementation_guide_1", "icann_rdap_response_profile_1"]


def vcard(*properties: list[Any]) -> list[Any]:
    return ["vcard", [["version", {}, "text", "4.0"], *properties]]


def registrar_entity(name: str, iana_id: str | None = "1068") -> dict[str, Any]:
    entity: dict[str, Any] = {
        "objectClassName": "entity",
        "handle": iana_id or "REG-1",
        "roles": ["registrar"],
        "vcardArray": vcard(["fn", {}, "text", name]),
        "entities": [
            {
                "objectClassName": "entity",
                "roles": ["abuse"],
                "vcardArray": vcard(["fn", {}, "text", ""], ["email", {}, "text", "abuse@registrar.example"]),
            }
        ],
    }
    if iana_id is not None:
        entity["publicIds"] = [{"type": "IANA Registrar ID", "identifier": iana_id}]
    return entity


def registry_domain(
    name: str,
    *,
    registrar: str = "Evil Registrar, LLC",
    iana_id: str | None = "9999",
    related: str | None = None,
    name_servers: tuple[str, ...] = ("NS1.EVIL-DNS.TEST", "NS2.EVIL-DNS.TEST"),
    status: tuple[str, ...] = ("client delete prohibited", "client transfer prohibited"),
    created: str = "2021-03-04T05:06:07Z",
    expires: str = "2026-03-04T05:06:07Z",
    updated: str = "2024-08-14T07:01:34Z",
    signed: bool = False,
    registrant: dict[str, Any] | None = None,
    redacted: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A registry's domain object; `related` is the registrar's RDAP URL for it (thin model)."""
    links: list[dict[str, Any]] = [
        {
            "value": f"https://rdap.registry.example/domain/{name}",
            "rel": "self",
            "href": f"https://rdap.registry.example/domain/{name}",
            "type": "application/rdap+json",
        }
    ]
    if related is not None:
        links.append({"value": related, "rel": "related", "href": related, "type": "application/rdap+json"})
    entities: list[dict[str, Any]] = [registrar_entity(registrar, iana_id)]
    if registrant is not None:
        entities.append(registrant)
    document: dict[str, Any] = {
        "objectClassName": "domain",
        "handle": "2336799_DOMAIN_COM-VRSN",
        "ldhName": name.upper(),
        "links": links,
        "status": list(status),
        "entities": entities,
        "events": [
            {"eventAction": "registration", "eventDate": created},
            {"eventAction": "expiration", "eventDate": expires},
            {"eventAction": "last changed", "eventDate": updated},
            {"eventAction": "last update of RDAP database", "eventDate": "2025-11-05T10:11:12Z"},
        ],
        "secureDNS": {"delegationSigned": signed},
        "nameservers": [{"objectClassName": "nameserver", "ldhName": ns} for ns in name_servers],
        "rdapConformance": CONFORMANCE,
        "notices": [{"title": "Terms of Use", "description": ["Service subject to Terms of Use."]}],
    }
    if redacted is not None:
        document["redacted"] = redacted
        document["rdapConformance"] = [*CONFORMANCE, "redacted"]
    return document


def registrant_entity(
    org: str | None, email: str | None, *, name: str = "REDACTED FOR PRIVACY"
) -> dict[str, Any]:
    properties: list[list[Any]] = [["fn", {}, "text", name]]
    if org is not None:
        properties.append(["org", {"type": "work"}, "text", org])
    properties.append(["adr", {"cc": "PA"}, "text", ["", "", "", "", "", "", "PA"]])
    if email is not None:
        properties.append(["email", {}, "text", email])
    return {"objectClassName": "entity", "roles": ["registrant"], "vcardArray": vcard(*properties)}


def empty_registrant() -> dict[str, Any]:
    """What some registrars send for a withheld registrant: a vCard with nothing in it."""
    return {"objectClassName": "entity", "roles": ["registrant"], "vcardArray": ["vcard", []]}


def rfc9537_redactions(*names: str) -> list[dict[str, Any]]:
    return [
        {"name": {"type": name}, "reason": {"type": "Server policy"}, "method": "removal", "prePath": "$"}
        for name in names
    ]


def registrar_domain(name: str, registrant: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """The registrar's reply for the same domain: the registry's data plus the registrant."""
    document = registry_domain(name, registrant=registrant, **overrides)
    document["links"] = document["links"][:1]
    return document


def nl_domain(name: str) -> dict[str, Any]:
    """A ccTLD registry that is the only source: no registrar link, no registrant shown."""
    return {
        "rdapConformance": ["rdap_level_0"],
        "objectClassName": "domain",
        "ldhName": name,
        "status": ["active"],
        "entities": [registrar_entity("Hostnet B.V.", None)],
        "events": [{"eventAction": "registration", "eventDate": "2001-05-17T00:00:00+02:00"}],
        "nameservers": [
            {"objectClassName": "nameserver", "ldhName": "ns1.hostpoint-dns.example."},
            {"objectClassName": "nameserver", "ldhName": "ns2.hostpoint-dns.example"},
        ],
        "secureDNS": {"delegationSigned": True},
    }
