"""InternetDB's host reply in, normalised ports, names, tags and vulns out."""

from __future__ import annotations

import pytest

from bot.core.errors import SourceError
from bot.monitoring.sources.internetdb import InternetDbHost, is_no_information, parse_internetdb


def test_parse_internetdb_normalises_every_list() -> None:
    payload = {
        "ip": "98.126.38.107",
        "ports": [443, 22],
        "hostnames": ["Evil-Example.com."],
        "cpes": ["cpe:/a:nginx:nginx"],
        "tags": ["Self-Signed"],
        "vulns": ["cve-2023-44487"],
    }
    assert parse_internetdb(payload) == InternetDbHost(
        ports=frozenset({22, 443}),
        hostnames=frozenset({"evil-example.com"}),
        cpes=frozenset({"cpe:/a:nginx:nginx"}),
        tags=frozenset({"self-signed"}),
        vulns=frozenset({"CVE-2023-44487"}),
    )


@pytest.mark.parametrize(
    "payload",
    [
        {"detail": "No information available"},
        {"ports": ["80"]},
        {"ports": [70000]},
        {"ports": [1], "cpes": "x"},
    ],
)
def test_parse_internetdb_rejects_other_shapes(payload: object) -> None:
    with pytest.raises(SourceError):
        parse_internetdb(payload)


def test_is_no_information_knows_internetdb_404_from_any_404() -> None:
    assert is_no_information(b'{"detail":"No information available"}')
    assert not is_no_information(b"404: Not Found")
    assert not is_no_information(b'{"detail":"Not Found"}')
