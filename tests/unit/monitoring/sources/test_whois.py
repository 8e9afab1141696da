"""WHOIS text in, normalised facts out: dates, name servers, status codes, registrant."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from bot.core.errors import SourceError, SourceRefused
from bot.core.observations import Fact
from bot.monitoring.sources.whois import normalise_whois, parse_whois
from tests.fakes.whois_server import (
    not_found_text,
    registrar_text,
    registry_text,
)


def values(facts: list[Fact], field: str) -> list[str]:
    return sorted(fact.value for fact in facts if fact.field == field)


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


@pytest.mark.parametrize("text", ["", "garbage\n"])
def test_parse_whois_reply_without_fields_is_an_error(text: str) -> None:
    with pytest.raises(SourceError, match="no WHOIS fields"):
        parse_whois("evil.com", text)


@pytest.mark.parametrize(
    "text",
    [
        "% Quota exceeded, try again later\n",
        # What python-whois's socket failure text parses to: every field None.
        "Socket not responding: [Errno 111] Connection refused\n",
    ],
)
def test_parse_whois_refusal_without_fields_is_a_transient_refusal(text: str) -> None:
    with pytest.raises(SourceRefused, match="refused the query") as raised:
        parse_whois("evil.com", text)
    assert raised.value.transient


def test_parse_whois_unreadable_date_drops_only_that_line() -> None:
    text = registry_text("evil.com").replace("2021-03-04T05:06:07Z", "in the spring of the year 99zz")
    facts = parse_whois("evil.com", text)
    assert values(facts, "creation_date") == []
    assert values(facts, "registrar") == ["Evil Registrar, LLC"]
