"""crt.sh's JSON in, certificates and the names under the domain out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.errors import SourceError
from bot.monitoring.sources.crtsh import CtCertificate, parse_crtsh, split_names


def crtsh_row(
    crtsh_id: int, names: str, serial: str, issuer: str = "C=US, O=Let's Encrypt, CN=R3"
) -> dict[str, object]:
    return {
        "issuer_ca_id": 183267,
        "issuer_name": issuer,
        "common_name": names.split("\n")[0],
        "name_value": names,
        "id": crtsh_id,
        "entry_timestamp": "2024-01-01T00:10:00.5",
        "not_before": "2024-01-01T00:00:00",
        "not_after": "2024-03-31T23:59:59",
        "serial_number": serial,
    }


def test_parse_crtsh_merges_precertificate_and_certificate() -> None:
    rows = [
        crtsh_row(1, "evil-example.com\n*.evil-example.com", "04:A1:B2"),
        crtsh_row(2, "evil-example.com\n*.evil-example.com", "04a1b2"),
    ]
    result = parse_crtsh(rows, "evil-example.com")
    assert result.certificates == (
        CtCertificate(
            issuer_name="C=US, O=Let's Encrypt, CN=R3",
            issuer_ca_id=183267,
            serial="04a1b2",
            not_before=datetime(2024, 1, 1, tzinfo=UTC),
            not_after=datetime(2024, 3, 31, 23, 59, 59, tzinfo=UTC),
            names=("*.evil-example.com", "evil-example.com"),
            crtsh_ids=(1, 2),
        ),
    )
    assert result.names == {"evil-example.com"}
    assert result.wildcards == {"evil-example.com"}


def test_parse_crtsh_keeps_two_issuers_with_one_serial_apart() -> None:
    rows = [
        crtsh_row(1, "a.evil-example.com", "01"),
        crtsh_row(2, "b.evil-example.com", "01", issuer="C=US, O=X, CN=Other"),
    ]
    assert [cert.issuer for cert in parse_crtsh(rows, "evil-example.com").certificates] == ["R3", "Other"]


def test_split_names_keeps_names_under_the_domain_only() -> None:
    value = (
        "Mail.Evil-Example.com.\n*.API.evil-example.com\nevil-example.com\nnotevil-example.com\n"
        "unrelated.org\nadmin@evil-example.com\n198.51.100.7\nfoo*.evil-example.com\n"
    )
    assert split_names(value, "evil-example.com") == [
        "mail.evil-example.com",
        "*.api.evil-example.com",
        "evil-example.com",
    ]


def test_parse_crtsh_reduces_wildcards_to_their_base_but_remembers_them() -> None:
    rows = [crtsh_row(1, "*.api.evil-example.com\nlogin.evil-example.com", "ff01")]
    result = parse_crtsh(rows, "evil-example.com")
    assert result.names == {"api.evil-example.com", "login.evil-example.com"}
    assert result.wildcards == {"api.evil-example.com"}
    assert result.certificates[0].names == ("*.api.evil-example.com", "login.evil-example.com")


@pytest.mark.parametrize("payload", [{"error": "x"}, "text", [{"id": 1}], ["junk"]])
def test_parse_crtsh_rejects_other_shapes(payload: object) -> None:
    with pytest.raises(SourceError) as caught:
        parse_crtsh(payload, "evil-example.com")
    assert caught.value.source == "crtsh"


def test_certificate_issuer_falls_back_to_organisation() -> None:
    rows = [crtsh_row(1, "a.evil-example.com", "01", issuer='C=US, O="DigiCert, Inc."')]
    assert parse_crtsh(rows, "evil-example.com").certificates[0].issuer == "DigiCert, Inc."
