"""RDAP domain replies of several registries and registrars (tests/data/rdap/), table-driven
through the normaliser: the same fields and value forms the WHOIS parser gives."""

from __future__ import annotations

import pytest

from bot.core.errors import SourceError
from bot.monitoring.sources.rdap_domains import (
    base_for,
    domain_extras,
    domain_facts,
    parse_bootstrap,
    rdap_status,
    registrant_facts,
    related_link,
)
from tests.fakes.whois_corpus import RdapCase, by_field, load_rdap_cases, rdap_agreement

CASES = load_rdap_cases()


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_rdap_reply_gives_the_facts_it_says(case: RdapCase) -> None:
    read = registrant_facts if case.kind == "registrar" else domain_facts
    assert by_field(read(case.document)) == case.facts
    assert all(fact.source == "rdap" for fact in read(case.document))


def test_rdap_agreement_per_family() -> None:
    for family, agreement in rdap_agreement(CASES, domain_facts, registrant_facts).items():
        assert agreement.share >= 0.95, (family, agreement.wrong)
    assert len({case.registry for case in CASES}) >= 10


def test_extras_are_read() -> None:
    com = next(c for c in CASES if c.name == "com.verisign.json").document
    app = next(c for c in CASES if c.name == "app.google.json").document
    assert isinstance(com, dict) and isinstance(app, dict)
    assert domain_extras(com) == {"registrar_iana_id": "292", "updated": "2019-09-09", "dnssec": False}
    assert domain_extras(app)["dnssec"] is True
    assert related_link(com, "https://rdap.verisign.com/com/v1/") == (
        "https://rdap.registrar.example/domain/ACME-PORTAL.COM"
    )
    assert related_link(app, "https://x/") is None


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("client transfer prohibited", "clientTransferProhibited"),
        ("server hold", "serverHold"),
        ("active", "ok"),
        ("redemption period", "redemptionPeriod"),
        ("pending delete", "pendingDelete"),
        ("clientHold", "clientHold"),
        ("associated", "associated"),
        ("", None),
    ],
)
def test_rdap_status(status: str, code: str | None) -> None:
    assert rdap_status(status) == code


@pytest.mark.parametrize(
    "document", [None, [], {"objectClassName": "ip network"}, {"objectClassName": "domain"}]
)
def test_not_a_domain_object_is_an_error(document: object) -> None:
    with pytest.raises(SourceError):
        domain_facts(document)


def test_bootstrap_longest_suffix_and_https_first() -> None:
    bases = parse_bootstrap(
        {
            "version": "1.0",
            "services": [
                [["com", "net"], ["http://rdap.verisign.com/com/v1/", "https://rdap.verisign.com/com/v1/"]],
                [["uk"], ["https://rdap.nominet.uk/uk"]],
                [["co.uk"], ["https://rdap.example/co.uk/"]],
                ["junk"],
                [["bad"], ["ftp://nowhere/"]],
            ],
        }
    )
    assert base_for(bases, "evil.com") == "https://rdap.verisign.com/com/v1/"
    assert base_for(bases, "tea.co.uk") == "https://rdap.example/co.uk/"
    assert base_for(bases, "tea.org.uk") == "https://rdap.nominet.uk/uk/"
    assert base_for(bases, "baeckerei.de") is None
    assert base_for(bases, "x.bad") is None
    with pytest.raises(SourceError):
        parse_bootstrap({"services": "nope"})
